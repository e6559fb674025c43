package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
)

// Pinger reports whether a dependency is reachable; /readyz asks each one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

// Ping implements Pinger.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Service is one RPC service the routes mount: its fully qualified name
// (for gRPC health and reflection) and how to build its handler with the
// routes' handler options (interceptors, limits, recovery).
type Service struct {
	// Name is the service's full name, "bookworm.catalog.v1.CatalogService".
	Name string
	// Mount returns the service's path prefix and handler built with opts;
	// a generated NewXServiceHandler closed over its implementation fits.
	Mount func(opts ...connect.HandlerOption) (string, http.Handler)
	// Dependencies name the entries of Options.Dependencies the service
	// needs: its gRPC health is NOT_SERVING while one of them is down. Nil
	// means all of them.
	Dependencies []string
}

// NewService pairs a generated NewXServiceHandler with its implementation
// (H is the generated handler interface; Go does not infer it from the
// implementation's concrete type):
//
//	NewService[catalogv1connect.CatalogServiceHandler](catalogv1connect.CatalogServiceName,
//		catalogv1connect.NewCatalogServiceHandler, NewCatalogHandler(svc))
func NewService[H any](name string, newHandler func(H, ...connect.HandlerOption) (string, http.Handler), impl H) Service {
	return Service{Name: name, Mount: func(opts ...connect.HandlerOption) (string, http.Handler) {
		return newHandler(impl, opts...)
	}}
}

// Options configure the routes.
type Options struct {
	Log *slog.Logger
	// Services are the RPC services to serve, each once; gRPC health and
	// reflection list exactly these (and health itself).
	Services []Service
	// OuterInterceptors run first, in order, outside the error interceptor,
	// so they see the Connect code the client gets (tracing, metrics).
	OuterInterceptors []connect.Interceptor
	// Interceptors run inside the error interceptor and outside request
	// validation, in order (authentication, rate limits, ...).
	Interceptors []connect.Interceptor
	// MaxRequestBytes bounds a request message; larger ones are refused with
	// ResourceExhausted before they are read whole.
	MaxRequestBytes int64
	// Dependencies are pinged by /readyz, by name.
	Dependencies map[string]Pinger
}

// Routes is the HTTP side of the server: the services, health and reflection.
type Routes struct {
	mux *http.ServeMux
	// draining is set when shutdown starts so load balancers stop sending.
	draining atomic.Bool
	ready    *readiness
	log      *slog.Logger
	names    []string
	// serviceDeps are the dependencies of each service, by name.
	serviceDeps map[string][]string
}

// NewRoutes builds every route of the server.
func NewRoutes(opts Options) (*Routes, error) {
	validation, err := NewValidationInterceptor()
	if err != nil {
		return nil, err
	}
	interceptors := append(slices.Clone(opts.OuterInterceptors), NewErrorInterceptor(opts.Log))
	interceptors = append(interceptors, opts.Interceptors...)
	interceptors = append(interceptors, validation)
	handlerOpts := []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		connect.WithReadMaxBytes(int(opts.MaxRequestBytes)),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
			opts.Log.ErrorContext(ctx, "panic in handler", slog.String("procedure", spec.Procedure), slog.Any("panic", p))
			return connect.NewError(connect.CodeInternal, errInternal)
		}),
	}
	r := &Routes{
		mux:         http.NewServeMux(),
		ready:       newReadiness(opts.Dependencies, opts.Log),
		log:         opts.Log,
		serviceDeps: map[string][]string{},
	}
	for _, s := range opts.Services {
		if s.Name == "" || s.Mount == nil || slices.Contains(r.names, s.Name) {
			return nil, fmt.Errorf("rpc: service %q is unnamed, has no handler or is listed twice", s.Name)
		}
		for _, d := range s.Dependencies {
			if _, ok := opts.Dependencies[d]; !ok {
				return nil, fmt.Errorf("rpc: service %q needs the unknown dependency %q", s.Name, d)
			}
		}
		r.names = append(r.names, s.Name)
		if s.Dependencies != nil {
			r.serviceDeps[s.Name] = slices.Clone(s.Dependencies)
		} else {
			r.serviceDeps[s.Name] = r.ready.names()
		}
		r.mux.Handle(s.Mount(handlerOpts...))
	}
	r.mux.Handle(grpchealth.NewHandler(healthChecker{r}))
	reflector := grpcreflect.NewStaticReflector(append([]string{grpchealth.HealthV1ServiceName}, r.names...)...)
	r.mux.Handle(grpcreflect.NewHandlerV1(reflector))
	r.mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	r.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.mux.HandleFunc("GET /readyz", r.readyz)
	return r, nil
}

// ServiceNames lists the RPC services the routes serve (not counting health
// and reflection), in the order of Options.Services.
func (r *Routes) ServiceNames() []string { return slices.Clone(r.names) }

// Handle mounts an extra handler (the development issuer, metrics).
func (r *Routes) Handle(pattern string, h http.Handler) { r.mux.Handle(pattern, h) }

// Handler returns the handler to serve, with the request body limit applied.
func (r *Routes) Handler(maxRequestBytes int64) http.Handler {
	return http.MaxBytesHandler(r.mux, maxRequestBytes+64*1024)
}

// Drain marks the server as going away: readiness and gRPC health report
// NOT_SERVING from now on, while requests in flight finish.
func (r *Routes) Drain() { r.draining.Store(true) }

func (r *Routes) readyz(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	if down := r.ready.down(req.Context(), r.ready.names()); down != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(down + " unreachable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
