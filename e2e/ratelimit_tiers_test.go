package e2e

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// TestRateLimitTiersAndSDKRetries runs a reseller's import against a server
// whose admin budget is tiny: an admin token runs out of writes at once, a
// token with the integration role writes on, and the Go SDK with the admin
// token completes every write anyway by waiting the delay the server gives.
func TestRateLimitTiersAndSDKRetries(t *testing.T) {
	s := startExtraServer(t, "ratetiers", append(issuerEnv(),
		"BOOKWORM_RATE_ADMIN=write=5,write-burst=2",
		"BOOKWORM_RATE_INTEGRATION=write=1000,write-burst=40")...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	integrationToken, err := authtest.Sign(issuer.Current(jose.ES256), issuer.Claims("reseller-job", e2eAudience, "admin", "integration"))
	if err != nil {
		t.Fatal(err)
	}
	const writes = 12
	create := func(c interface {
		CreatePublisher(context.Context, *connect.Request[catalogv1.CreatePublisherRequest]) (*connect.Response[catalogv1.CreatePublisherResponse], error)
	}) (ok int, err error) {
		for range writes {
			if _, err = c.CreatePublisher(ctx, connect.NewRequest(&catalogv1.CreatePublisherRequest{
				Publisher: &catalogv1.PublisherInput{Name: uniq("Import Press")}})); err != nil {
				return ok, err
			}
			ok++
		}
		return ok, nil
	}

	// Without retries, the admin's burst of 2 runs out.
	admin := bookworm.NewCatalogClient(s.baseURL, bookworm.WithToken(adminToken), bookworm.WithoutRetry())
	ok, err := create(admin)
	if connect.CodeOf(err) != connect.CodeResourceExhausted || ok >= writes {
		t.Fatalf("admin without retries: %d writes then %v, want resource_exhausted early", ok, err)
	}
	if d, found := bookworm.RetryDelay(wantCode(t, err, connect.CodeResourceExhausted)); !found || d <= 0 || d > time.Second {
		t.Fatalf("RetryInfo delay %s (found %v), want within (0, 1s] at 5 writes/s", d, found)
	}

	// The integration tier's budget takes the whole import at once.
	integration := bookworm.NewCatalogClient(s.baseURL, bookworm.WithToken(integrationToken), bookworm.WithoutRetry())
	if ok, err := create(integration); err != nil {
		t.Fatalf("integration token: %d writes then %v", ok, err)
	}

	// The SDK's default retries wait as told: every write of the admin succeeds,
	// at about the admin's rate.
	start := time.Now()
	retrying := bookworm.NewCatalogClient(s.baseURL, bookworm.WithToken(adminToken))
	if ok, err := create(retrying); err != nil {
		t.Fatalf("admin with the SDK's retries: %d writes then %v", ok, err)
	}
	if elapsed := time.Since(start); elapsed < (writes-2)*time.Second/5/2 {
		t.Fatalf("%d writes at 5/s took only %s: the budget was not applied", writes, elapsed)
	}
}
