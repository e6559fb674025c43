package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	authv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/auth/v1"
)

// TokenVerifier turns a bearer token into the caller. *Verifier is the one
// BookWorm uses.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.Principal, error)
}

// Interceptor enforces the access rule every RPC declares in the contract
// with the (bookworm.auth.v1.access) method option:
//
//   - no rule: every call is refused with PermissionDenied and logged, so a
//     method added without a rule is closed, never open;
//   - public: anyone may call; a token that is sent must still be valid;
//   - roles: a valid token is required (Unauthenticated without one) holding
//     one of the roles (PermissionDenied otherwise); no roles means any
//     signed-in user.
//
// The caller's identity.Principal is put into the context for the handler
// and the core. Rules are read from the method descriptor (connect's
// Spec.Schema) once per procedure and cached, so a call costs a map lookup
// plus, when a token is sent, the verifier (itself cached per token).
type Interceptor struct {
	verifier TokenVerifier
	log      *slog.Logger
	rules    sync.Map // procedure -> methodRule
}

// NewInterceptor returns the authorization interceptor. Install it first
// among the handler interceptors, before rate limiting and validation, so
// that nothing runs for a caller who may not call.
func NewInterceptor(v TokenVerifier, log *slog.Logger) *Interceptor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Interceptor{verifier: v, log: log}
}

type methodRule struct {
	defined bool
	public  bool
	roles   []string
	problem string // why a declared rule is unusable; such a rule denies
}

// ruleOf reads the access rule of a method.
func ruleOf(m protoreflect.MethodDescriptor) methodRule {
	opts := m.Options()
	if opts == nil || !proto.HasExtension(opts, authv1.E_Access) {
		return methodRule{problem: "no access rule"}
	}
	ar, ok := proto.GetExtension(opts, authv1.E_Access).(*authv1.AccessRule)
	if !ok || ar == nil {
		return methodRule{problem: "unreadable access rule"}
	}
	r := methodRule{defined: true, public: ar.GetPublic(), roles: slices.Clone(ar.GetRoles())}
	if r.public && len(r.roles) > 0 {
		return methodRule{problem: "access rule is both public and restricted to roles"}
	}
	if slices.Contains(r.roles, "") {
		return methodRule{problem: "access rule names an empty role"}
	}
	return r
}

// CheckRules returns an error naming every method of services that has no
// usable access rule (nil when all have one). A test calls it with every
// service the server serves, so adding an RPC without a rule fails the build.
func CheckRules(services ...protoreflect.ServiceDescriptor) error {
	var errs []error
	for _, s := range services {
		methods := s.Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			if r := ruleOf(m); r.problem != "" {
				errs = append(errs, fmt.Errorf("%s: %s", m.FullName(), r.problem))
			}
		}
	}
	return errors.Join(errs...)
}

func (i *Interceptor) rule(spec connect.Spec) methodRule {
	if r, ok := i.rules.Load(spec.Procedure); ok {
		return r.(methodRule)
	}
	r := methodRule{problem: "no method descriptor (handler built without connect.WithSchema)"}
	if m, ok := spec.Schema.(protoreflect.MethodDescriptor); ok {
		r = ruleOf(m)
	}
	i.rules.Store(spec.Procedure, r)
	return r
}

// authorize decides one call and returns the context to run it with.
func (i *Interceptor) authorize(ctx context.Context, spec connect.Spec, header http.Header) (context.Context, error) {
	r := i.rule(spec)
	if r.problem != "" {
		i.log.ErrorContext(ctx, "refusing call: method has no usable access rule",
			slog.String("procedure", spec.Procedure), slog.String("problem", r.problem))
		return ctx, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("%w: this method is not open to anyone", failure.ErrPermissionDenied))
	}
	raw, sent, err := bearer(header)
	if err != nil {
		return ctx, i.unauthenticated(ctx, spec, err)
	}
	var p identity.Principal
	if sent {
		p, err = i.verifier.Verify(ctx, raw)
		if err != nil {
			if errors.Is(err, failure.ErrUnavailable) {
				i.log.WarnContext(ctx, "cannot verify token", slog.String("procedure", spec.Procedure), slog.Any("error", err))
				return ctx, connect.NewError(connect.CodeUnavailable,
					fmt.Errorf("%w: cannot verify tokens right now, retry later", failure.ErrUnavailable))
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctx, connect.NewError(connect.CodeOf(ctxErr), ctxErr)
			}
			return ctx, i.unauthenticated(ctx, spec, err)
		}
		ctx = identity.WithPrincipal(ctx, p)
	}
	if r.public {
		return ctx, nil
	}
	if !sent {
		return ctx, i.unauthenticated(ctx, spec, fmt.Errorf("%w: sign in required", failure.ErrUnauthenticated))
	}
	if !p.HasAnyRole(r.roles...) {
		i.log.InfoContext(ctx, "permission denied", slog.String("procedure", spec.Procedure), slog.String("caller", p.String()))
		return ctx, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("%w: this method requires one of the roles %s", failure.ErrPermissionDenied, strings.Join(r.roles, ", ")))
	}
	return ctx, nil
}

func (i *Interceptor) unauthenticated(ctx context.Context, spec connect.Spec, err error) error {
	i.log.DebugContext(ctx, "unauthenticated", slog.String("procedure", spec.Procedure), slog.Any("reason", err))
	if !errors.Is(err, failure.ErrUnauthenticated) {
		err = fmt.Errorf("%w: %w", failure.ErrUnauthenticated, err)
	}
	ce := connect.NewError(connect.CodeUnauthenticated, err)
	// RFC 6750: tell HTTP clients which scheme to use.
	ce.Meta().Set("WWW-Authenticate", `Bearer realm="bookworm"`)
	return ce
}

var errAuthHeader = unauthenticated("the Authorization header must be \"Bearer <token>\"")

// bearer extracts the token of an "Authorization: Bearer <token>" header.
// sent reports whether the caller tried to authenticate at all; a header
// that is present but unusable is an error, never anonymous.
func bearer(h http.Header) (token string, sent bool, err error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, errAuthHeader
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true, errAuthHeader
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", true, errAuthHeader
	}
	return token, true, nil
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authorize(ctx, req.Spec(), req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor; clients pass through.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor: the rule is checked
// once, when the stream opens, before any message is read.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authorize(ctx, conn.Spec(), conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
