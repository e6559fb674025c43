// Package stripetest is a test double of Stripe's REST API for the
// PaymentIntents the stripe gateway uses: a real HTTP server speaking
// Stripe's wire format (form-encoded requests, Stripe's JSON objects and
// error bodies, the Idempotency-Key and Idempotent-Replayed headers), with
// Stripe's state machine behind it, for what stripe-mock (stateless, canned
// answers) cannot show: whether a payment was charged once, 3-D Secure,
// declines, outages, a crash between a request and its answer.
//
// Served:
//
//	POST /v1/payment_intents               create (confirm, capture_method, metadata)
//	GET  /v1/payment_intents/{id}          retrieve
//	POST /v1/payment_intents/{id}/capture  capture
//	POST /v1/payment_intents/{id}/cancel   cancel
//	GET  /v1/payment_intents/search        search by metadata['key']:'value'
//	POST /v1/refunds                       refund (in full or in part)
//
// Idempotency is Stripe's: a POST's Idempotency-Key (per API key) stores
// the first answer that got to run (success or refusal) and replays it, with
// Idempotent-Replayed: true, to every later request with that key; the same
// key with other parameters is a 400 idempotency_error; a request arriving
// while another with its key runs is a 409 idempotency_key_in_use. So a
// client asking twice is never charged twice, and Charges counts what was
// really captured, per idempotency key.
//
// The payment method decides the outcome, with Stripe's test names:
// pm_card_chargeDeclined and pm_card_chargeDeclinedInsufficientFunds are
// declined (402 card_error), pm_card_authenticationRequired and
// pm_card_threeDSecure2Required (and any RequireAction names) need the
// customer (requires_action with a client secret, finished by
// CompleteAction), any other pm_ succeeds, and anything else is an unknown
// PaymentMethod (400 resource_missing, echoing it as Stripe does: the
// gateway must not repeat it).
//
// Hooks: On scripts the answers of a route (scripted replies win over the
// state machine, Reply.Pass hands one back to it), Hold stops requests
// before or after they take effect until released, and Event/Deliver send
// Stripe-signed webhook events.
package stripetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"
)

// Stripe's test payment methods the double knows.
const (
	PMSucceeds          = "pm_card_visa"
	PMDeclined          = "pm_card_chargeDeclined"
	PMInsufficientFunds = "pm_card_chargeDeclinedInsufficientFunds"
	PMAuthRequired      = "pm_card_authenticationRequired"
	PM3DS2Required      = "pm_card_threeDSecure2Required"
)

const (
	apiVersion            = "2025-08-27.basil"
	requestIDHeaderValue  = "req_stripetest"
	idempotencyKeyMaxSize = 255
)

// Reply is one scripted answer.
type Reply struct {
	Status int
	// Body is encoded as JSON, unless it is a string (sent as it is).
	Body   any
	Header map[string]string
	// Hang makes the answer wait until the client gives up.
	Hang bool
	// Pass answers as the state machine would (a scripted outage followed by
	// normal service, say).
	Pass bool
}

// Call is one request as the double received it.
type Call struct {
	Method, Path, Query string
	Form                url.Values
	IdempotencyKey      string
	Authorization       string
	// Status is the answer's status; 0 when the client left first.
	Status int
}

// Route is the call's "METHOD /path".
func (c Call) Route() string { return c.Method + " " + c.Path }

// ReadCall reads a request into a Call and restores its body.
func ReadCall(r *http.Request) Call {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	return Call{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Form: form,
		IdempotencyKey: r.Header.Get("Idempotency-Key"), Authorization: r.Header.Get("Authorization"),
	}
}

// Recorder keeps calls. It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// Add records a call.
func (r *Recorder) Add(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Calls returns the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Stage is when a Hold stops a request.
type Stage int

// The stages.
const (
	// BeforeApply holds a request before it takes effect: a client that
	// leaves meanwhile (a killed process) leaves nothing behind, as a
	// request lost on the way to Stripe.
	BeforeApply Stage = iota
	// AfterApply holds the answer of a request that took effect (a payment
	// captured, its idempotent answer stored): a client that leaves
	// meanwhile never learns it, as an answer lost on the way back.
	AfterApply
)

// Hold stops the requests of a route at a stage until Release.
type Hold struct {
	route    string
	stage    Stage
	arrived  chan Call
	released chan struct{}
	once     sync.Once
}

// Arrived receives each request the hold stops (buffered; a request is
// dropped from it, not held up, when nobody reads).
func (h *Hold) Arrived() <-chan Call { return h.arrived }

// Release lets the held requests and every later one through.
func (h *Hold) Release() { h.once.Do(func() { close(h.released) }) }

// Intent is a PaymentIntent as the double keeps it.
type Intent struct {
	ID, Status, Currency, PaymentMethod, CaptureMethod, ClientSecret string
	Amount, AmountReceived, AmountCapturable, AmountRefunded         int64
	Metadata                                                         map[string]string
	// CreateKey is the Idempotency-Key it was created with.
	CreateKey string
	// Charges is how often money was captured for it (never more than 1).
	Charges int
	// LastError is the last_payment_error of a failed attempt.
	LastError map[string]any
	Created   int64
}

// Server is the double. It is safe for concurrent use.
type Server struct {
	// URL is the API base address (for the gateway's APIURL).
	URL string
	// SecretKey, when set, is the only API key accepted.
	SecretKey string

	rec Recorder
	srv *httptest.Server

	mu        sync.Mutex
	scripts   map[string][]Reply
	holds     []*Hold
	intents   map[string]*Intent
	order     []string
	idem      map[string]*stored
	inFlight  map[string]bool
	actionPMs map[string]bool
	refunds   int
}

// stored is the answer kept for an idempotency key.
type stored struct {
	fingerprint string
	status      int
	body        []byte
}

// NewServer starts a double on a loopback port; Close stops it.
func NewServer() *Server {
	s := &Server{scripts: map[string][]Reply{}, intents: map[string]*Intent{}, idem: map[string]*stored{},
		inFlight: map[string]bool{}, actionPMs: map[string]bool{PMAuthRequired: true, PM3DS2Required: true}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server, releasing every hold first.
func (s *Server) Close() {
	s.mu.Lock()
	holds := slices.Clone(s.holds)
	s.mu.Unlock()
	for _, h := range holds {
		h.Release()
	}
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Calls returns every request so far.
func (s *Server) Calls() []Call { return s.rec.Calls() }

// On scripts the answers of route ("POST /v1/payment_intents"): each
// request takes the next reply; the last one repeats.
func (s *Server) On(route string, replies ...Reply) {
	s.mu.Lock()
	s.scripts[route] = replies
	s.mu.Unlock()
}

// RequireAction makes payments with the payment method pm need the
// customer (3-D Secure).
func (s *Server) RequireAction(pm string) {
	s.mu.Lock()
	s.actionPMs[pm] = true
	s.mu.Unlock()
}

// Hold stops the requests of route at stage from now until Release.
func (s *Server) Hold(route string, stage Stage) *Hold {
	h := &Hold{route: route, stage: stage, arrived: make(chan Call, 1024), released: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	return h
}

// Intents returns a copy of every PaymentIntent, in creation order.
func (s *Server) Intents() []Intent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Intent, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.intents[id].copy())
	}
	return out
}

// Intent returns a copy of a PaymentIntent.
func (s *Server) Intent(id string) (Intent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.intents[id]
	if !ok {
		return Intent{}, false
	}
	return pi.copy(), true
}

// IntentsWith returns the PaymentIntents whose metadata has key = value.
func (s *Server) IntentsWith(key, value string) []Intent {
	var out []Intent
	for _, pi := range s.Intents() {
		if pi.Metadata[key] == value {
			out = append(out, pi)
		}
	}
	return out
}

// Charges returns how often money was captured for the PaymentIntents
// created with the idempotency key.
func (s *Server) Charges(idempotencyKey string) int {
	n := 0
	for _, pi := range s.Intents() {
		if pi.CreateKey == idempotencyKey {
			n += pi.Charges
		}
	}
	return n
}

func (pi *Intent) copy() Intent {
	c := *pi
	c.Metadata = maps.Clone(pi.Metadata)
	c.LastError = maps.Clone(pi.LastError)
	return c
}

// CompleteAction finishes the customer's 3-D Secure step of a payment that
// requires action, as the customer's bank would: succeed captures it (or
// makes it capturable), else it goes back to requires_payment_method with
// an authentication failure.
func (s *Server) CompleteAction(id string, succeed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.intents[id]
	if !ok || pi.Status != "requires_action" {
		return fmt.Errorf("stripetest: payment %s does not require action", id)
	}
	if succeed {
		s.succeed(pi)
		return nil
	}
	pi.Status = "requires_payment_method"
	pi.LastError = map[string]any{"type": "invalid_request_error", "code": "payment_intent_authentication_failure",
		"message": "The provided PaymentMethod has failed authentication."}
	return nil
}

// succeed moves a confirmed payment on; s.mu is held.
func (s *Server) succeed(pi *Intent) {
	pi.LastError = nil
	if pi.CaptureMethod == "manual" {
		pi.Status, pi.AmountCapturable = "requires_capture", pi.Amount
		return
	}
	s.capture(pi)
}

// capture takes the money; s.mu is held.
func (s *Server) capture(pi *Intent) {
	pi.Status, pi.AmountCapturable, pi.AmountReceived = "succeeded", 0, pi.Amount
	pi.Charges++
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	c := ReadCall(r)
	route := c.Route()
	s.mu.Lock()
	rp, scripted := s.next(route)
	s.mu.Unlock()
	if scripted && !rp.Pass {
		s.answerScripted(w, r, c, rp)
		return
	}
	if !s.wait(r, route, BeforeApply, c) {
		c.Status = 0
		s.rec.Add(c)
		return
	}
	status, body, replayed := s.apply(r, c)
	if !s.wait(r, route, AfterApply, c) {
		c.Status = 0
		s.rec.Add(c)
		return
	}
	c.Status = status
	s.rec.Add(c)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", requestIDHeaderValue)
	w.Header().Set("Stripe-Version", apiVersion)
	if c.IdempotencyKey != "" {
		w.Header().Set("Idempotency-Key", c.IdempotencyKey)
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// next takes the route's next scripted reply; s.mu is held.
func (s *Server) next(route string) (Reply, bool) {
	rs := s.scripts[route]
	if len(rs) == 0 {
		return Reply{}, false
	}
	if len(rs) > 1 {
		s.scripts[route] = rs[1:]
	}
	return rs[0], true
}

func (s *Server) answerScripted(w http.ResponseWriter, r *http.Request, c Call, rp Reply) {
	if rp.Hang {
		<-r.Context().Done()
		c.Status = 0
		s.rec.Add(c)
		return
	}
	c.Status = rp.Status
	s.rec.Add(c)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", requestIDHeaderValue)
	for k, v := range rp.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.Status)
	if b, ok := rp.Body.(string); ok {
		_, _ = w.Write([]byte(b))
		return
	}
	_ = json.NewEncoder(w).Encode(rp.Body)
}

// wait holds the request while a hold of its route and stage is on; false
// when the client left meanwhile.
func (s *Server) wait(r *http.Request, route string, stage Stage, c Call) bool {
	s.mu.Lock()
	var hs []*Hold
	for _, h := range s.holds {
		if h.route == route && h.stage == stage {
			hs = append(hs, h)
		}
	}
	s.mu.Unlock()
	for _, h := range hs {
		select {
		case <-h.released:
			continue
		default:
		}
		select {
		case h.arrived <- c:
		default:
		}
		select {
		case <-h.released:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

// apply runs a request against the state machine, through the idempotency
// layer for POSTs.
func (s *Server) apply(r *http.Request, c Call) (status int, body []byte, replayed bool) {
	auth, ok := strings.CutPrefix(c.Authorization, "Bearer ")
	if !ok || (!strings.HasPrefix(auth, "sk_") && !strings.HasPrefix(auth, "rk_")) || (s.SecretKey != "" && auth != s.SecretKey) {
		return 401, errorBody("invalid_request_error", "", "", "Invalid API Key provided: "+redactKey(auth), nil), false
	}
	if c.Method != http.MethodPost || c.IdempotencyKey == "" {
		st, b := s.handle(r, c)
		return st, b, false
	}
	if len(c.IdempotencyKey) > idempotencyKeyMaxSize {
		return 400, errorBody("invalid_request_error", "", "", "Invalid idempotency key: keys must be at most 255 characters long.", nil), false
	}
	scope := auth + "\x00" + c.IdempotencyKey
	fp := c.Route() + "?" + c.Form.Encode()
	s.mu.Lock()
	if prev, ok := s.idem[scope]; ok {
		s.mu.Unlock()
		if prev.fingerprint != fp {
			return 400, errorBody("idempotency_error", "", "", "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '"+c.IdempotencyKey+"' if you meant to execute a different request.", nil), false
		}
		return prev.status, prev.body, true
	}
	if s.inFlight[scope] {
		s.mu.Unlock()
		return 409, errorBody("idempotency_error", "idempotency_key_in_use", "", "There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.", nil), false
	}
	s.inFlight[scope] = true
	s.mu.Unlock()
	st, b := s.handle(r, c)
	s.mu.Lock()
	delete(s.inFlight, scope)
	if st < 500 && st != 401 && st != 429 {
		// Stripe keeps the answer of every request that ran.
		s.idem[scope] = &stored{fingerprint: fp, status: st, body: b}
	}
	s.mu.Unlock()
	return st, b, false
}

func redactKey(k string) string {
	if len(k) <= 8 {
		return "***"
	}
	return k[:8] + "***" + k[len(k)-4:]
}

var (
	intentPath = regexp.MustCompile(`^/v1/payment_intents/([A-Za-z0-9_]+)(/capture|/cancel)?$`)
	metaQuery  = regexp.MustCompile(`^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$`)
)

// handle serves one request; the state lives behind s.mu.
func (s *Server) handle(r *http.Request, c Call) (int, []byte) {
	switch {
	case c.Method == http.MethodPost && c.Path == "/v1/payment_intents":
		return s.create(c)
	case c.Method == http.MethodGet && c.Path == "/v1/payment_intents/search":
		return s.search(r)
	case c.Method == http.MethodPost && c.Path == "/v1/refunds":
		return s.refund(c)
	}
	m := intentPath.FindStringSubmatch(c.Path)
	if m == nil || (m[2] == "" && c.Method != http.MethodGet) || (m[2] != "" && c.Method != http.MethodPost) {
		return 404, errorBody("invalid_request_error", "", "", "Unrecognized request URL ("+c.Method+": "+c.Path+").", nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.intents[m[1]]
	if !ok {
		return 404, errorBody("invalid_request_error", "resource_missing", "", "No such payment_intent: '"+m[1]+"'", nil)
	}
	switch m[2] {
	case "/capture":
		if pi.Status != "requires_capture" {
			return 400, errorBody("invalid_request_error", "payment_intent_unexpected_state", "", "This PaymentIntent could not be captured because it has a status of "+pi.Status+". Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", pi.object())
		}
		s.capture(pi)
	case "/cancel":
		switch pi.Status {
		case "requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing":
			pi.Status, pi.AmountCapturable = "canceled", 0
		default:
			return 400, errorBody("invalid_request_error", "payment_intent_unexpected_state", "", "You cannot cancel this PaymentIntent because it has a status of "+pi.Status+". Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.", pi.object())
		}
	}
	return 200, encode(pi.object())
}

func (s *Server) create(c Call) (int, []byte) {
	f := c.Form
	amount, err := strconv.ParseInt(f.Get("amount"), 10, 64)
	switch {
	case err != nil || amount < 1:
		return 400, errorBody("invalid_request_error", "parameter_invalid_integer", "", "Invalid integer: "+f.Get("amount"), nil)
	case len(f.Get("currency")) != 3:
		return 400, errorBody("invalid_request_error", "parameter_missing", "", "Missing required param: currency.", nil)
	}
	pm := f.Get("payment_method")
	if pm != "" && !strings.HasPrefix(pm, "pm_") {
		// Stripe echoes the value: the gateway must never repeat it.
		return 400, errorBody("invalid_request_error", "resource_missing", "", "No such PaymentMethod: '"+pm+"'", nil)
	}
	capture := f.Get("capture_method")
	if capture == "" {
		capture = "automatic"
	}
	meta := map[string]string{}
	for k, vs := range f {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") && len(vs) > 0 {
			meta[strings.TrimSuffix(name, "]")] = vs[0]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := "pi_" + randomID(24)
	pi := &Intent{ID: id, Amount: amount, Currency: strings.ToLower(f.Get("currency")), PaymentMethod: pm,
		CaptureMethod: capture, ClientSecret: id + "_secret_" + randomID(24), Metadata: meta, CreateKey: c.IdempotencyKey,
		Created: time.Now().Unix(), Status: "requires_payment_method"}
	if pm != "" {
		pi.Status = "requires_confirmation"
	}
	s.intents[id] = pi
	s.order = append(s.order, id)
	if f.Get("confirm") != "true" || pm == "" {
		return 200, encode(pi.object())
	}
	switch {
	case pm == PMDeclined || pm == PMInsufficientFunds:
		decline := "generic_decline"
		msg := "Your card was declined."
		if pm == PMInsufficientFunds {
			decline, msg = "insufficient_funds", "Your card has insufficient funds."
		}
		pi.Status = "requires_payment_method"
		pi.LastError = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": decline, "message": msg}
		return 402, errorBody("card_error", "card_declined", decline, msg, pi.object())
	case s.actionPMs[pm]:
		pi.Status = "requires_action"
	default:
		s.succeed(pi)
	}
	return 200, encode(pi.object())
}

func (s *Server) search(r *http.Request) (int, []byte) {
	q := r.URL.Query().Get("query")
	m := metaQuery.FindStringSubmatch(q)
	if m == nil {
		return 400, errorBody("invalid_request_error", "", "", "The search query is not supported by stripetest: "+q, nil)
	}
	want := strings.ReplaceAll(m[2], `\'`, `'`)
	s.mu.Lock()
	defer s.mu.Unlock()
	data := []any{}
	for _, id := range slices.Backward(s.order) {
		if pi := s.intents[id]; pi.Metadata[m[1]] == want {
			data = append(data, pi.object())
		}
	}
	return 200, encode(map[string]any{"object": "search_result", "data": data, "has_more": false, "next_page": nil, "url": "/v1/payment_intents/search"})
}

func (s *Server) refund(c Call) (int, []byte) {
	id := c.Form.Get("payment_intent")
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.intents[id]
	if !ok {
		return 404, errorBody("invalid_request_error", "resource_missing", "", "No such payment_intent: '"+id+"'", nil)
	}
	if pi.Status != "succeeded" {
		return 400, errorBody("invalid_request_error", "", "", "This PaymentIntent does not have a successful charge to refund.", nil)
	}
	left := pi.AmountReceived - pi.AmountRefunded
	if left == 0 {
		return 400, errorBody("invalid_request_error", "charge_already_refunded", "", "Charge ch_"+strings.TrimPrefix(pi.ID, "pi_")+" has already been refunded.", nil)
	}
	amount := left
	if a := c.Form.Get("amount"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 1 {
			return 400, errorBody("invalid_request_error", "parameter_invalid_integer", "", "Invalid integer: "+a, nil)
		}
		if n > left {
			return 400, errorBody("invalid_request_error", "amount_too_large", "", "Refund amount is greater than the amount left to refund.", nil)
		}
		amount = n
	}
	pi.AmountRefunded += amount
	s.refunds++
	return 200, encode(RefundObject(fmt.Sprintf("re_%s%d", randomID(16), s.refunds), pi.ID, pi.Currency, amount))
}

// object renders the PaymentIntent as Stripe does.
func (pi *Intent) object() map[string]any {
	return PaymentIntentObject(pi.ID, pi.Status, func(o map[string]any) {
		o["amount"], o["currency"], o["amount_received"], o["amount_capturable"] = pi.Amount, pi.Currency, pi.AmountReceived, pi.AmountCapturable
		o["capture_method"], o["client_secret"], o["created"] = pi.CaptureMethod, pi.ClientSecret, pi.Created
		o["payment_method"], o["last_payment_error"] = nilIfEmpty(pi.PaymentMethod), nil
		if pi.LastError != nil {
			o["last_payment_error"] = pi.LastError
		}
		meta := map[string]any{}
		for k, v := range pi.Metadata {
			meta[k] = v
		}
		o["metadata"] = meta
		if pi.Status == "canceled" {
			o["cancellation_reason"], o["canceled_at"] = "abandoned", time.Now().Unix()
		}
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PaymentIntentObject renders a PaymentIntent as Stripe does (an amount of
// 25.99 EUR, no metadata), with mod applied last.
func PaymentIntentObject(id, status string, mod func(map[string]any)) map[string]any {
	pi := map[string]any{
		"id": id, "object": "payment_intent", "amount": 2599, "amount_capturable": 0, "amount_received": 0,
		"currency": "eur", "status": status, "capture_method": "automatic", "confirmation_method": "automatic",
		"client_secret": id + "_secret_AbCdEf123", "created": 1733000000, "livemode": false,
		"metadata": map[string]any{}, "payment_method": PMSucceeds, "payment_method_types": []string{"card"},
		"last_payment_error": nil, "next_action": nil, "latest_charge": nil,
	}
	if status == "succeeded" {
		pi["amount_received"] = 2599
	}
	if mod != nil {
		mod(pi)
	}
	if pi["status"] == "succeeded" {
		pi["latest_charge"] = "ch_" + strings.TrimPrefix(id, "pi_")
	}
	if pi["status"] == "requires_action" {
		pi["next_action"] = map[string]any{"type": "use_stripe_sdk", "use_stripe_sdk": map[string]any{"type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/3d_secure_2/hosted"}}
	}
	return pi
}

// ErrorObject renders an error body as Stripe does; pi, when not nil, is
// the PaymentIntent the error is about.
func ErrorObject(typ, code, declineCode, message string, pi map[string]any) map[string]any {
	e := map[string]any{"type": typ, "message": message, "request_log_url": "https://dashboard.stripe.com/test/logs/" + requestIDHeaderValue}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	if declineCode != "" {
		e["decline_code"] = declineCode
	}
	if pi != nil {
		e["payment_intent"] = pi
		e["charge"] = "ch_" + strings.TrimPrefix(fmt.Sprint(pi["id"]), "pi_")
	}
	return map[string]any{"error": e}
}

func errorBody(typ, code, declineCode, message string, pi map[string]any) []byte {
	return encode(ErrorObject(typ, code, declineCode, message, pi))
}

// RefundObject renders a Refund as Stripe does.
func RefundObject(id, paymentIntent, currency string, amount int64) map[string]any {
	return map[string]any{"id": id, "object": "refund", "amount": amount, "currency": currency, "payment_intent": paymentIntent,
		"status": "succeeded", "created": time.Now().Unix()}
}

// SearchResult renders a search page as Stripe does.
func SearchResult(items ...map[string]any) map[string]any {
	data := make([]any, 0, len(items))
	for _, it := range items {
		data = append(data, it)
	}
	return map[string]any{"object": "search_result", "data": data, "has_more": false, "next_page": nil, "url": "/v1/payment_intents/search"}
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of JSON values only
	}
	return b
}

func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// Event renders a Stripe event of type typ ("payment_intent.succeeded")
// about the PaymentIntent as it is now, with a new event id.
func (s *Server) Event(typ, intentID string) ([]byte, error) {
	s.mu.Lock()
	pi, ok := s.intents[intentID]
	var obj map[string]any
	if ok {
		obj = pi.object()
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("stripetest: no payment %s", intentID)
	}
	return EventPayload("evt_"+randomID(24), typ, obj), nil
}

// EventPayload renders a Stripe event about object.
func EventPayload(id, typ string, object map[string]any) []byte {
	return encode(map[string]any{
		"id": id, "object": "event", "api_version": apiVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": object},
	})
}

// Deliver posts an event to a webhook endpoint as Stripe does, signed with
// the endpoint's secret at time ts (the Stripe-Signature header), and
// returns the answer's status.
func Deliver(ctx context.Context, endpoint, secret string, payload []byte, ts time.Time) (int, error) {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: ts})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", signed.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
