package rpc

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

// readinessTTL is how long one ping's answer stands for every probe that
// asks meanwhile, so that a burst of health checks (one orchestrator probe
// per service, several load balancers) costs one ping per dependency.
const readinessTTL = time.Second

// readinessTimeout bounds one round of pings.
const readinessTimeout = 2 * time.Second

// readiness answers whether named dependencies are reachable, for /readyz
// and gRPC health alike, so both tell the same truth.
type readiness struct {
	deps map[string]Pinger
	log  *slog.Logger
	now  func() time.Time

	mu   sync.Mutex
	last map[string]pingResult
}

type pingResult struct {
	at  time.Time
	err error
}

func newReadiness(deps map[string]Pinger, log *slog.Logger) *readiness {
	return &readiness{deps: deps, log: log, now: time.Now, last: map[string]pingResult{}}
}

// names lists every dependency, sorted.
func (r *readiness) names() []string {
	out := make([]string, 0, len(r.deps))
	for name := range r.deps {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// down returns the first of names that is unreachable, or "" when all are
// reachable.
func (r *readiness) down(ctx context.Context, names []string) string {
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	for _, name := range names {
		if err := r.ping(ctx, name); err != nil {
			return name
		}
	}
	return ""
}

func (r *readiness) ping(ctx context.Context, name string) error {
	r.mu.Lock()
	res, ok := r.last[name]
	r.mu.Unlock()
	if ok && r.now().Sub(res.at) < readinessTTL {
		return res.err
	}
	err := r.deps[name].Ping(ctx)
	r.mu.Lock()
	prev, seen := r.last[name]
	r.last[name] = pingResult{at: r.now(), err: err}
	r.mu.Unlock()
	// Log changes only: a probe every second must not fill the log.
	switch {
	case err != nil && (!seen || prev.err == nil):
		r.log.WarnContext(ctx, "not ready", slog.String("dependency", name), slog.Any("error", err))
	case err == nil && seen && prev.err != nil:
		r.log.InfoContext(ctx, "ready again", slog.String("dependency", name))
	}
	return err
}

// errUnknownService answers a health check of a service the server does
// not serve, as grpc-go does.
var errUnknownService = errors.New("unknown service")

// healthChecker is the gRPC health of the routes: a service is SERVING
// while the server is not draining and every dependency it needs answers;
// the empty name (the whole server) needs them all, as /readyz does.
type healthChecker struct{ r *Routes }

// Check implements grpchealth.Checker.
func (h healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	var deps []string
	if req.Service == "" {
		deps = h.r.ready.names()
	} else {
		var ok bool
		if deps, ok = h.r.serviceDeps[req.Service]; !ok || !slices.Contains(h.r.names, req.Service) {
			return nil, connect.NewError(connect.CodeNotFound, errUnknownService)
		}
	}
	if h.r.draining.Load() || h.r.ready.down(ctx, deps) != "" {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
