package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The fuzz harness speaks the wire protocols itself, with plain HTTP, so
// that it can send bodies no generated client would: garbage, truncated
// messages, invalid UTF-8, wrong JSON types, broken gRPC frames.

// wire is one protocol the harness sends requests over.
type wire string

const (
	wireConnectJSON  wire = "connect-json"
	wireConnectProto wire = "connect-proto"
	wireGRPC         wire = "grpc"
)

var fuzzWires = []wire{wireConnectJSON, wireConnectProto, wireGRPC}

// json reports whether bodies on w are JSON.
func (w wire) json() bool { return w == wireConnectJSON }

// fuzzCallTimeout is the deadline of one call: the client sends it to the
// server and gives up a little after it. A call still unanswered then hangs.
const fuzzCallTimeout = 10 * time.Second

// outcome is what the server answered to one request.
type outcome struct {
	code   connect.Code // 0 for success
	detail string       // the HTTP status and message, for reports
	body   []byte       // the response message on success (unary)
	hung   bool
}

// send posts body (a message in w's encoding, unframed) to method m as the
// caller with token (none when empty). raw, when set, is the whole HTTP
// body as is (for broken gRPC frames and streaming envelopes).
func send(client *http.Client, baseURL string, w wire, m protoreflect.MethodDescriptor, tok string, body []byte, raw bool, extra http.Header) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout+5*time.Second)
	defer cancel()
	url := baseURL + "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
	streaming := m.IsStreamingClient() || m.IsStreamingServer()
	h := http.Header{}
	switch {
	case w == wireGRPC:
		h.Set("Content-Type", "application/grpc+proto")
		h.Set("TE", "trailers")
		h.Set("Grpc-Timeout", strconv.Itoa(int(fuzzCallTimeout/time.Millisecond))+"m")
		if !raw {
			body = envelope(0, body)
		}
	case streaming:
		ct := "application/connect+proto"
		if w.json() {
			ct = "application/connect+json"
		}
		h.Set("Content-Type", ct)
		h.Set("Connect-Protocol-Version", "1")
		h.Set("Connect-Timeout-Ms", strconv.Itoa(int(fuzzCallTimeout/time.Millisecond)))
		if !raw {
			body = envelope(0, body)
		}
	default:
		ct := "application/proto"
		if w.json() {
			ct = "application/json"
		}
		h.Set("Content-Type", ct)
		h.Set("Connect-Protocol-Version", "1")
		h.Set("Connect-Timeout-Ms", strconv.Itoa(int(fuzzCallTimeout/time.Millisecond)))
	}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	for k, vs := range extra {
		h[k] = vs
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{code: connect.CodeUnknown, detail: err.Error()}
	}
	req.Header = h
	res, err := client.Do(req)
	if err != nil {
		return transportFailure(ctx, err)
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(res.Body)
	if err != nil {
		return transportFailure(ctx, err)
	}
	switch {
	case w == wireGRPC:
		return grpcOutcome(res, resBody)
	case streaming:
		return connectStreamOutcome(res, resBody)
	default:
		return connectUnaryOutcome(res, resBody)
	}
}

func transportFailure(ctx context.Context, err error) outcome {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return outcome{hung: true, detail: err.Error()}
	}
	// The server closed the connection or answered nothing HTTP can read.
	return outcome{code: connect.CodeUnknown, detail: "transport: " + err.Error()}
}

// envelope frames a message as gRPC and Connect streaming do.
func envelope(flags byte, msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	out[0] = flags
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// connectUnaryOutcome reads a Connect unary response: 200 with the message,
// or an error status with a JSON error body.
func connectUnaryOutcome(res *http.Response, body []byte) outcome {
	if res.StatusCode == http.StatusOK {
		return outcome{body: body}
	}
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err == nil && e.Code != "" {
		var c connect.Code
		if err := c.UnmarshalText([]byte(e.Code)); err == nil {
			return outcome{code: c, detail: fmt.Sprintf("HTTP %d %s: %s", res.StatusCode, e.Code, e.Message)}
		}
	}
	return outcome{code: httpToCode(res.StatusCode), detail: fmt.Sprintf("HTTP %d without a Connect error: %.200q", res.StatusCode, body)}
}

// connectStreamOutcome reads the envelopes of a Connect streaming response
// up to the end-of-stream message and its error, if any.
func connectStreamOutcome(res *http.Response, body []byte) outcome {
	if res.StatusCode != http.StatusOK {
		return connectUnaryOutcome(res, body)
	}
	for len(body) >= 5 {
		flags, n := body[0], binary.BigEndian.Uint32(body[1:5])
		if uint32(len(body)-5) < n {
			break
		}
		msg := body[5 : 5+n]
		body = body[5+n:]
		if flags&2 == 0 {
			continue
		}
		var end struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(msg, &end); err != nil {
			return outcome{code: connect.CodeUnknown, detail: fmt.Sprintf("unreadable end of stream %q", msg)}
		}
		if end.Error == nil {
			return outcome{}
		}
		var c connect.Code
		if err := c.UnmarshalText([]byte(end.Error.Code)); err != nil {
			return outcome{code: connect.CodeUnknown, detail: "unknown code " + end.Error.Code}
		}
		return outcome{code: c, detail: end.Error.Code + ": " + end.Error.Message}
	}
	return outcome{code: connect.CodeUnknown, detail: "stream without an end-of-stream message"}
}

// grpcOutcome reads grpc-status from the trailers (or the headers of a
// trailers-only response).
func grpcOutcome(res *http.Response, body []byte) outcome {
	if res.StatusCode != http.StatusOK {
		return outcome{code: httpToCode(res.StatusCode), detail: fmt.Sprintf("HTTP %d: %.200q", res.StatusCode, body)}
	}
	status := res.Trailer.Get("Grpc-Status")
	msg := res.Trailer.Get("Grpc-Message")
	if status == "" {
		status, msg = res.Header.Get("Grpc-Status"), res.Header.Get("Grpc-Message")
	}
	n, err := strconv.Atoi(status)
	if err != nil {
		return outcome{code: connect.CodeUnknown, detail: fmt.Sprintf("no grpc-status (%q)", status)}
	}
	out := outcome{code: connect.Code(n), detail: "grpc-status " + status + ": " + msg}
	if n == 0 && len(body) >= 5 {
		out.body = body[5:]
	}
	return out
}

// httpToCode is the mapping of the gRPC and Connect specifications for an
// HTTP status that carries no code of its own.
func httpToCode(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInternal
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeUnimplemented
	case http.StatusRequestEntityTooLarge:
		return connect.CodeResourceExhausted
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return connect.CodeUnavailable
	default:
		return connect.CodeUnknown
	}
}

// badCode reports whether a client mistake must never have caused code.
func badCode(c connect.Code) bool {
	switch c {
	case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss, connect.CodeUnimplemented,
		connect.CodeDeadlineExceeded:
		return true
	}
	return false
}

// shorten keeps reports readable when a body is megabytes long.
func shorten(b []byte) string {
	s := strconv.Quote(string(b))
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return strings.TrimSpace(s)
}

// sendGet calls a side-effect-free method with the Connect protocol's GET
// form: the message in the query string (JSON, or base64 binary).
func sendGet(client *http.Client, baseURL string, m protoreflect.MethodDescriptor, tok string, query url.Values) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout+5*time.Second)
	defer cancel()
	u := baseURL + "/" + string(m.Parent().FullName()) + "/" + string(m.Name()) + "?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return outcome{code: connect.CodeUnknown, detail: err.Error()}
	}
	req.Header.Set("Connect-Timeout-Ms", strconv.Itoa(int(fuzzCallTimeout/time.Millisecond)))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := client.Do(req)
	if err != nil {
		return transportFailure(ctx, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return transportFailure(ctx, err)
	}
	return connectUnaryOutcome(res, body)
}

// TestFuzzWireReadsAnswers checks the harness's own protocol parsing on
// answers the served RPCs do not produce yet (streams), so that a
// streaming RPC added later is judged right.
func TestFuzzWireReadsAnswers(t *testing.T) {
	ok := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Trailer: http.Header{}}
	stream := append(envelope(0, []byte("msg")), envelope(2, []byte(`{"error":{"code":"invalid_argument","message":"no"}}`))...)
	if out := connectStreamOutcome(ok, stream); out.code != connect.CodeInvalidArgument {
		t.Errorf("stream ending in invalid_argument read as %v (%s)", out.code, out.detail)
	}
	if out := connectStreamOutcome(ok, envelope(2, []byte(`{}`))); out.code != 0 {
		t.Errorf("stream ending well read as %v (%s)", out.code, out.detail)
	}
	if out := connectStreamOutcome(ok, envelope(0, []byte("msg"))); out.code != connect.CodeUnknown {
		t.Errorf("stream without its end read as %v", out.code)
	}
	grpcOK := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Trailer: http.Header{"Grpc-Status": {"3"}}}
	if out := grpcOutcome(grpcOK, nil); out.code != connect.CodeInvalidArgument {
		t.Errorf("grpc-status 3 read as %v", out.code)
	}
	trailersOnly := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Grpc-Status": {"16"}}, Trailer: http.Header{}}
	if out := grpcOutcome(trailersOnly, nil); out.code != connect.CodeUnauthenticated {
		t.Errorf("trailers-only grpc-status 16 read as %v", out.code)
	}
	if out := connectUnaryOutcome(&http.Response{StatusCode: 400}, []byte(`{"code":"invalid_argument"}`)); out.code != connect.CodeInvalidArgument {
		t.Errorf("Connect error read as %v", out.code)
	}
	if out := connectUnaryOutcome(&http.Response{StatusCode: 502}, []byte(`<html>`)); out.code != connect.CodeUnavailable {
		t.Errorf("a proxy's 502 read as %v", out.code)
	}
}
