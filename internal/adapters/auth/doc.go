// Package auth is the identity and access adapter: it verifies OIDC bearer
// tokens (Verifier, with the issuer's keys from RemoteKeys or, in
// development, from DevIssuer), enforces the access rule each RPC declares
// in the contract (Interceptor, CheckRules), limits call rates per caller
// (RateLimiter), opens the API to browsers (CORS) and mints development
// tokens (MintDevToken).
//
// What reaches the core is an identity.Principal in the context; nothing
// below this package sees a token. Errors wrap the core's failure sentinels
// (ErrUnauthenticated, ErrPermissionDenied, ErrResourceExhausted,
// ErrUnavailable) inside *connect.Error values with client-safe messages.
//
// Server wiring, in order: NewInterceptor, then NewRateLimiter, then the
// validation interceptor; CORS around the whole mux; DevIssuer.Handler at
// DevIssuerPath + "/" when no issuer is configured (and ValidateMode refuses
// that in prod).
package auth
