package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestEventsConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		want    func(eventsConfig) bool
		wantErr string
	}{
		{
			name: "defaults fit the local broker",
			env:  env(),
			want: func(e eventsConfig) bool {
				return e.AMQPURL == "amqp://guest:guest@127.0.0.1:5672/" && e.Exchange == "bookworm.events" &&
					e.QueuePrefix == "bookworm" && e.OutboxRetention == 24*time.Hour && e.InboxRetention == 30*24*time.Hour &&
					e.RelayWorkers == 2 && e.RelayBatch == 500 && e.ConsumerConcurrency == 16
			},
		},
		{
			name: "environment",
			env: env("BOOKWORM_AMQP_URL", "amqps://u:p@mq.example:5671/vh", "BOOKWORM_AMQP_EXCHANGE", "x",
				"BOOKWORM_AMQP_QUEUE_PREFIX", "p", "BOOKWORM_OUTBOX_RETENTION", "1h", "BOOKWORM_INBOX_RETENTION", "0s",
				"BOOKWORM_RELAY_WORKERS", "3", "BOOKWORM_RELAY_BATCH", "100"),
			want: func(e eventsConfig) bool {
				return e.AMQPURL == "amqps://u:p@mq.example:5671/vh" && e.Exchange == "x" && e.QueuePrefix == "p" &&
					e.OutboxRetention == time.Hour && e.InboxRetention == 0 && e.RelayWorkers == 3 && e.RelayBatch == 100
			},
		},
		{name: "not an amqp url", env: env("BOOKWORM_AMQP_URL", "http://127.0.0.1:5672"), wantErr: "amqp-url"},
		{name: "no host", args: []string{"--amqp-url", "amqp://"}, env: env(), wantErr: "amqp-url"},
		{name: "empty exchange", args: []string{"--amqp-exchange", ""}, env: env(), wantErr: "amqp-exchange"},
		{name: "no retention", args: []string{"--outbox-retention", "0s"}, env: env(), wantErr: "outbox-retention"},
		{name: "negative inbox retention", args: []string{"--inbox-retention", "-1h"}, env: env(), wantErr: "inbox-retention"},
		{name: "no workers", args: []string{"--relay-workers", "0"}, env: env(), wantErr: "relay-workers"},
		{name: "huge batch", args: []string{"--relay-batch", "20000"}, env: env(), wantErr: "relay-batch"},
		{name: "no handler per queue", args: []string{"--consumer-concurrency", "0"}, env: env(), wantErr: "consumer-concurrency"},
		{name: "handlers per queue", args: []string{"--consumer-concurrency", "64"}, env: env(),
			want: func(e eventsConfig) bool { return e.ConsumerConcurrency == 64 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one about %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "u:p@") {
					t.Fatalf("error quotes the credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c.Events) {
				t.Fatalf("events config = %+v", c.Events)
			}
		})
	}
}
