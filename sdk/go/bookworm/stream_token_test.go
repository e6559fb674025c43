package bookworm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

// watchEcho answers WatchOrder with one order whose id is the
// Authorization header the stream arrived with.
type watchEcho struct {
	orderingv1connect.UnimplementedOrderingServiceHandler
}

func (watchEcho) WatchOrder(_ context.Context, req *connect.Request[orderingv1.WatchOrderRequest], stream *connect.ServerStream[orderingv1.WatchOrderResponse]) error {
	return stream.Send(&orderingv1.WatchOrderResponse{Event: &orderingv1.WatchOrderResponse_Order{
		Order: &orderingv1.Order{Id: req.Header().Get("Authorization")},
	}})
}

// TestTokenReachesStreams: the bearer token of WithToken is sent on server
// streams (WatchOrder) over every protocol, and a failing token source ends
// the stream with Unauthenticated before anything is sent.
func TestTokenReachesStreams(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(orderingv1connect.NewOrderingServiceHandler(watchEcho{}))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	for name, proto := range map[string]bookworm.Protocol{"connect": bookworm.Connect, "grpc": bookworm.GRPC, "grpc-web": bookworm.GRPCWeb} {
		t.Run(name, func(t *testing.T) {
			client := bookworm.NewOrderingClient(srv.URL, bookworm.WithProtocol(proto), bookworm.WithHTTPClient(srv.Client()), bookworm.WithToken("t0k"))
			stream, err := client.WatchOrder(context.Background(), connect.NewRequest(&orderingv1.WatchOrderRequest{Id: "x"}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("no message: %v", stream.Err())
			}
			if got := stream.Msg().GetOrder().GetId(); got != "Bearer t0k" {
				t.Fatalf("Authorization on the stream = %q, want %q", got, "Bearer t0k")
			}
		})
	}

	t.Run("failing source", func(t *testing.T) {
		boom := errors.New("no token today")
		client := bookworm.NewOrderingClient(srv.URL, bookworm.WithHTTPClient(srv.Client()),
			bookworm.WithTokenSource(func(context.Context) (string, error) { return "", boom }))
		stream, err := client.WatchOrder(context.Background(), connect.NewRequest(&orderingv1.WatchOrderRequest{Id: "x"}))
		if err == nil {
			defer stream.Close()
			if stream.Receive() {
				t.Fatal("a message arrived without a token")
			}
			err = stream.Err()
		}
		if connect.CodeOf(err) != connect.CodeUnauthenticated || !errors.Is(err, boom) {
			t.Fatalf("err = %v, want unauthenticated wrapping the source's error", err)
		}
	})
}
