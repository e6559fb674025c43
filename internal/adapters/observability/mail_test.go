package observability

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMailCollector(t *testing.T) {
	var stats MailStats
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewMailCollector(func() MailStats { return stats })); err != nil {
		t.Fatal(err)
	}
	stats = MailStats{Queued: 9, Sent: 6, Retried: 4, Failed: 1, Pending: 2, OldestPending: 90 * time.Second, MeasureTime: time.Unix(1_800_000_000, 0)}
	for name, want := range map[string]float64{
		"bookworm_email_queued_total":                       9,
		"bookworm_email_sent_total":                         6,
		"bookworm_email_retried_total":                      4,
		"bookworm_email_failed_total":                       1,
		"bookworm_email_pending":                            2,
		"bookworm_email_oldest_pending_seconds":             90,
		"bookworm_email_pending_measured_timestamp_seconds": 1_800_000_000,
	} {
		if find(t, reg, name, nil) == nil {
			t.Fatalf("no metric %s", name)
		}
		if got := metricValue(t, reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
