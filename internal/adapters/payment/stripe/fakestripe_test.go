package stripe_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeStripe is a test double that speaks Stripe's HTTP API with Stripe's
// real JSON shapes, for the answers stripe-mock (stateless, canned) cannot
// give: declines, 3-D Secure, outages, timeouts. Each route answers with
// the next of its scripted responses (the last one repeats).
type fakeStripe struct {
	t   *testing.T
	rec *recorder
	URL string

	mu     sync.Mutex
	routes map[string][]reply
}

// reply is one scripted answer.
type reply struct {
	status int
	body   any
	header map[string]string
	// hang makes the answer wait until the client gives up.
	hang bool
}

func newFakeStripe(t *testing.T) *fakeStripe {
	t.Helper()
	f := &fakeStripe{t: t, rec: &recorder{}, routes: map[string][]reply{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// on scripts the answers of "METHOD /path".
func (f *fakeStripe) on(route string, replies ...reply) {
	f.mu.Lock()
	f.routes[route] = replies
	f.mu.Unlock()
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	c := readCall(r)
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	rs := f.routes[key]
	var rp reply
	if len(rs) > 0 {
		rp = rs[0]
		if len(rs) > 1 {
			f.routes[key] = rs[1:]
		}
	} else {
		rp = reply{status: 404, body: stripeError("invalid_request_error", "resource_missing", "", "Unrecognized request URL ("+key+").", nil)}
	}
	f.mu.Unlock()
	if rp.hang {
		<-r.Context().Done()
		c.Status = 0
		f.rec.add(c)
		return
	}
	c.Status = rp.status
	f.rec.add(c)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake123")
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
	if s, ok := rp.body.(string); ok {
		_, _ = w.Write([]byte(s))
		return
	}
	_ = json.NewEncoder(w).Encode(rp.body)
}

// paymentIntent is a PaymentIntent object as Stripe renders it.
func paymentIntent(id, status string, mod func(map[string]any)) map[string]any {
	pi := map[string]any{
		"id": id, "object": "payment_intent", "amount": 2599, "amount_capturable": 0, "amount_received": 0,
		"currency": "eur", "status": status, "capture_method": "automatic", "confirmation_method": "automatic",
		"client_secret": id + "_secret_AbCdEf123", "created": 1733000000, "livemode": false,
		"metadata":             map[string]any{"bookworm_order_id": "o1", "bookworm_charge_key": "bookworm-order-o1-charge"},
		"payment_method":       token, // what the webhook and the gateway must never echo
		"payment_method_types": []string{"card"},
		"last_payment_error":   nil, "next_action": nil, "latest_charge": nil,
	}
	if status == "succeeded" {
		pi["amount_received"] = 2599
		pi["latest_charge"] = "ch_" + strings.TrimPrefix(id, "pi_")
	}
	if status == "requires_action" {
		pi["next_action"] = map[string]any{"type": "use_stripe_sdk", "use_stripe_sdk": map[string]any{"type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/3d_secure_2/hosted"}}
	}
	if mod != nil {
		mod(pi)
	}
	return pi
}

// stripeError is an error body as Stripe renders it.
func stripeError(typ, code, declineCode, message string, pi map[string]any) map[string]any {
	e := map[string]any{"type": typ, "message": message, "request_log_url": "https://dashboard.stripe.com/test/logs/req_fake123"}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	if declineCode != "" {
		e["decline_code"] = declineCode
	}
	if pi != nil {
		e["payment_intent"] = pi
		e["charge"] = "ch_3QdeclinedCharge"
	}
	return map[string]any{"error": e}
}

// refundObject is a Refund object as Stripe renders it.
func refundObject(id, pi string, amount int) map[string]any {
	return map[string]any{"id": id, "object": "refund", "amount": amount, "currency": "eur", "payment_intent": pi, "status": "succeeded", "created": 1733000000}
}

// searchResult is a search page as Stripe renders it.
func searchResult(items ...map[string]any) map[string]any {
	data := make([]any, 0, len(items))
	for _, it := range items {
		data = append(data, it)
	}
	return map[string]any{"object": "search_result", "data": data, "has_more": false, "next_page": nil, "url": "/v1/payment_intents/search"}
}
