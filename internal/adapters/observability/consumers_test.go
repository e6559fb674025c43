package observability

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

type fixedConsumers struct{ stats events.ConsumerStats }

func (c fixedConsumers) Stats() events.ConsumerStats { return c.stats }

func TestConsumerCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewConsumerCollector(fixedConsumers{events.ConsumerStats{Foreign: 7, Permanent: 2}})); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
	}
	want := map[string]float64{"bookworm_events_foreign_dropped_total": 7, "bookworm_events_permanent_failures_total": 2}
	if len(got) != len(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("metrics %v, want %v", got, want)
		}
	}
}
