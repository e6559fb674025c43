package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// httpReply is a response of the catalog as a curl user sees it.
type httpReply struct {
	status      int
	contentType string
	raw         []byte
	json        map[string]any
}

const catalogURLPath = "/bookworm.catalog.v1.CatalogService/"

// callHTTP sends one request with net/http and decodes a JSON body.
func callHTTP(t *testing.T, method, rawURL string, body []byte) httpReply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	res, err := http1Client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the body of %s %s: %v", method, rawURL, err)
	}
	r := httpReply{status: res.StatusCode, contentType: res.Header.Get("Content-Type"), raw: raw}
	if mt, _, _ := mime.ParseMediaType(r.contentType); mt == "application/json" {
		if err := json.Unmarshal(raw, &r.json); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, rawURL, err, raw)
		}
	}
	return r
}

// post calls an RPC the way `curl -X POST -H 'Content-Type: application/json' -d ...` does.
func post(t *testing.T, rpc, body string) httpReply {
	t.Helper()
	return callHTTP(t, http.MethodPost, srv.baseURL+catalogURLPath+rpc, []byte(body))
}

// get calls a read over HTTP GET with the message in the query string.
func get(t *testing.T, rpc, message string) httpReply {
	t.Helper()
	q := url.Values{"encoding": {"json"}, "message": {message}}
	return callHTTP(t, http.MethodGet, srv.baseURL+catalogURLPath+rpc+"?"+q.Encode(), nil)
}

// wantOK fails unless the reply is 200 with a JSON body, and returns it.
func (r httpReply) wantOK(t *testing.T) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.raw)
	}
	if r.json == nil {
		t.Fatalf("content type %q, want application/json: %s", r.contentType, r.raw)
	}
	return r.json
}

// wantError fails unless the reply is a Connect error with the HTTP status
// and code, shaped {"code":..., "message":..., "details":[...]}, and returns
// its BadRequest field paths.
func (r httpReply) wantError(t *testing.T, status int, code string) []string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if r.json == nil {
		t.Fatalf("error body with content type %q, want a JSON error: %s", r.contentType, r.raw)
	}
	if r.json["code"] != code {
		t.Fatalf("code %v, want %q: %s", r.json["code"], code, r.raw)
	}
	if msg, _ := r.json["message"].(string); msg == "" {
		t.Errorf("error has no message: %s", r.raw)
	}
	var fields []string
	details, _ := r.json["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		typ, _ := m["type"].(string)
		val, _ := m["value"].(string)
		if typ == "" || val == "" {
			t.Errorf("detail without type or value: %v", d)
			continue
		}
		if typ != "google.rpc.BadRequest" {
			continue
		}
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(val, "="))
		if err != nil {
			t.Errorf("detail value is not base64: %v", err)
			continue
		}
		var br errdetails.BadRequest
		if err := proto.Unmarshal(b, &br); err != nil {
			t.Errorf("detail is not a google.rpc.BadRequest: %v", err)
			continue
		}
		for _, v := range br.GetFieldViolations() {
			fields = append(fields, v.GetField())
		}
	}
	return fields
}

// wantInvalidJSON checks an invalid_argument reply that blames field.
func (r httpReply) wantInvalidJSON(t *testing.T, field string) {
	t.Helper()
	fields := r.wantError(t, http.StatusBadRequest, "invalid_argument")
	if !slices.ContainsFunc(fields, func(f string) bool { return underField(f, field) }) {
		t.Errorf("violations %v, want one of %q", fields, field)
	}
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, _ := cur.(map[string]any)
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHTTPJSON drives the catalog with plain JSON over HTTP POST and GET, as
// curl users do, checking status codes and the Connect error shape.
func TestHTTPJSON(t *testing.T) {
	t.Parallel()
	catName := uniq("Http Category")
	category := post(t, "CreateCategory", mustJSON(t, map[string]any{"category": map[string]any{"name": catName}})).wantOK(t)
	publisher := post(t, "CreatePublisher", mustJSON(t, map[string]any{"publisher": map[string]any{"name": uniq("Http Publisher")}})).wantOK(t)
	author := post(t, "CreateAuthor", mustJSON(t, map[string]any{"author": map[string]any{"name": uniq("Http Author")}})).wantOK(t)
	catID, pubID, authID := str(category, "category", "id"), str(publisher, "publisher", "id"), str(author, "author", "id")
	if catID == "" || pubID == "" || authID == "" {
		t.Fatalf("ids missing: %v %v %v", category, publisher, author)
	}
	w := word()
	isbn := randomISBN()
	bookJSON := func(title, isbn string) string {
		return mustJSON(t, map[string]any{"book": map[string]any{
			"title":         title,
			"isbn":          isbn,
			"price":         map[string]any{"currencyCode": "EUR", "units": "24", "nanos": 990000000},
			"stockQuantity": 3,
			"categoryId":    catID,
			"publisherId":   pubID,
			"authorIds":     []string{authID},
		}})
	}
	created := post(t, "CreateBook", bookJSON("Curl Handbook "+w, hyphenate(isbn))).wantOK(t)
	bookID := str(created, "book", "id")
	if bookID == "" || str(created, "book", "isbn") != isbn || str(created, "book", "etag") == "" {
		t.Fatalf("CreateBook returned %v", created)
	}
	if str(created, "book", "price", "units") != "24" || str(created, "book", "availability") != "AVAILABILITY_IN_STOCK" {
		t.Errorf("CreateBook JSON: price %v availability %v", created["book"].(map[string]any)["price"], str(created, "book", "availability"))
	}

	t.Run("reads over GET", func(t *testing.T) {
		got := get(t, "GetBook", mustJSON(t, map[string]any{"id": bookID})).wantOK(t)
		if str(got, "book", "id") != bookID || str(got, "book", "title") != "Curl Handbook "+w {
			t.Errorf("GetBook over GET = %v", got)
		}
		batch := get(t, "BatchGetBooks", mustJSON(t, map[string]any{"ids": []string{bookID, bookID}})).wantOK(t)
		if books, _ := batch["books"].([]any); len(books) != 2 {
			t.Errorf("BatchGetBooks over GET = %v", batch)
		}
		list := get(t, "ListBooks", mustJSON(t, map[string]any{"filter": map[string]any{"categoryIds": []string{catID}}})).wantOK(t)
		if books, _ := list["books"].([]any); len(books) != 1 {
			t.Errorf("ListBooks over GET = %v", list)
		}
		found := get(t, "SearchBooks", mustJSON(t, map[string]any{"query": strings.ToLower(w)})).wantOK(t)
		// The exact match ranks first; typo tolerance may add near matches
		// from other tests' random words below it.
		if results, _ := found["results"].([]any); len(results) == 0 || str(results[0].(map[string]any), "book", "id") != bookID {
			t.Errorf("SearchBooks over GET = %v", found)
		}
		if got := get(t, "GetCategory", mustJSON(t, map[string]any{"id": catID})).wantOK(t); str(got, "category", "name") != catName {
			t.Errorf("GetCategory over GET = %v", got)
		}
		get(t, "GetPublisher", mustJSON(t, map[string]any{"id": pubID})).wantOK(t)
		get(t, "GetAuthor", mustJSON(t, map[string]any{"id": authID})).wantOK(t)
		// A second one of each, so that a page of one has a next page.
		post(t, "CreateCategory", mustJSON(t, map[string]any{"category": map[string]any{"name": uniq("Http Category")}})).wantOK(t)
		post(t, "CreatePublisher", mustJSON(t, map[string]any{"publisher": map[string]any{"name": uniq("Http Publisher")}})).wantOK(t)
		post(t, "CreateAuthor", mustJSON(t, map[string]any{"author": map[string]any{"name": uniq("Http Author")}})).wantOK(t)
		for _, rpc := range []string{"ListAuthors", "ListCategories", "ListPublishers"} {
			got := get(t, rpc, `{"pageSize":1}`).wantOK(t)
			if str(got, "nextPageToken") == "" {
				t.Errorf("%s with pageSize 1 has no nextPageToken: %v", rpc, got)
			}
		}
		// The proto field names work as well as the JSON names.
		get(t, "ListBooks", `{"page_size":5,"order_by":"BOOK_ORDER_FIELD_PRICE"}`).wantOK(t)
		// The same read over POST.
		if got := post(t, "GetBook", mustJSON(t, map[string]any{"id": bookID})).wantOK(t); str(got, "book", "id") != bookID {
			t.Errorf("GetBook over POST = %v", got)
		}
	})

	t.Run("updates and deletes over POST", func(t *testing.T) {
		b := post(t, "CreateBook", bookJSON(uniq("Curl Update"), "")).wantOK(t)
		id, etag := str(b, "book", "id"), str(b, "book", "etag")
		upd := post(t, "UpdateBook", mustJSON(t, map[string]any{
			"id": id, "etag": etag, "book": map[string]any{"stockQuantity": 0}, "updateMask": "stockQuantity",
		})).wantOK(t)
		if str(upd, "book", "availability") != "AVAILABILITY_OUT_OF_STOCK" {
			t.Errorf("UpdateBook = %v", upd)
		}
		post(t, "UpdateBook", mustJSON(t, map[string]any{
			"id": id, "etag": etag, "book": map[string]any{"stockQuantity": 4}, "updateMask": "stockQuantity",
		})).wantError(t, http.StatusConflict, "aborted")
		post(t, "DeleteBook", mustJSON(t, map[string]any{"id": id})).wantOK(t)
		post(t, "DeleteBook", mustJSON(t, map[string]any{"id": id})).wantError(t, http.StatusNotFound, "not_found")
		if got := get(t, "GetBook", mustJSON(t, map[string]any{"id": id})).wantOK(t); got["book"].(map[string]any)["deleted"] != true {
			t.Errorf("deleted book over GET = %v", got)
		}
		post(t, "UpdateBook", mustJSON(t, map[string]any{
			"id": id, "book": map[string]any{"stockQuantity": 4}, "updateMask": "stockQuantity",
		})).wantError(t, http.StatusBadRequest, "failed_precondition")
	})

	t.Run("errors", func(t *testing.T) {
		post(t, "CreateBook", bookJSON("", "")).wantInvalidJSON(t, "book.title")
		post(t, "CreateBook", bookJSON("Bad ISBN "+w, "978-0-306-40615-8")).wantInvalidJSON(t, "book.isbn")
		post(t, "CreateBook", mustJSON(t, map[string]any{"book": map[string]any{
			"title": "Cents", "price": map[string]any{"currencyCode": "EUR", "units": "1", "nanos": 5},
			"categoryId": catID, "publisherId": pubID, "authorIds": []string{authID},
		}})).wantInvalidJSON(t, "book.price")
		post(t, "CreateBook", bookJSON("Twin "+w, isbn)).wantError(t, http.StatusConflict, "already_exists")
		post(t, "CreateCategory", mustJSON(t, map[string]any{"category": map[string]any{"name": catName}})).
			wantError(t, http.StatusConflict, "already_exists")
		post(t, "DeleteCategory", mustJSON(t, map[string]any{"id": catID})).
			wantError(t, http.StatusBadRequest, "failed_precondition")
		get(t, "GetBook", `{"id":"nope"}`).wantInvalidJSON(t, "id")
		get(t, "GetBook", mustJSON(t, map[string]any{"id": newID()})).wantError(t, http.StatusNotFound, "not_found")
		get(t, "SearchBooks", `{"query":""}`).wantInvalidJSON(t, "query")
		get(t, "ListBooks", `{"pageToken":"bogus"}`).wantInvalidJSON(t, "page_token")
		get(t, "ListBooks", `{"pageSize":1000}`).wantInvalidJSON(t, "page_size")

		r := post(t, "CreateBook", `{"book": {"title": `)
		r.wantError(t, http.StatusBadRequest, "invalid_argument")

		// Writes are not served over GET.
		r = get(t, "CreateBook", bookJSON("Over GET", ""))
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("CreateBook over GET: status %d, want 405: %s", r.status, r.raw)
		}
		r = post(t, "NoSuchMethod", `{}`)
		if r.status != http.StatusNotFound {
			t.Errorf("unknown method: status %d, want 404", r.status)
		}
		// A request far over any sensible size limit is refused before it
		// is decoded (a server without a limit would answer
		// invalid_argument about the description instead).
		huge := mustJSON(t, map[string]any{"category": map[string]any{"name": "Huge", "description": strings.Repeat("h", 16<<20)}})
		post(t, "CreateCategory", huge).wantError(t, http.StatusTooManyRequests, "resource_exhausted")
	})
}

// methodRecorder records the HTTP method of every request it forwards.
type methodRecorder struct {
	base    http.RoundTripper
	mu      sync.Mutex
	methods []string
}

func (m *methodRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	m.mu.Lock()
	m.methods = append(m.methods, req.Method+" "+req.URL.Path)
	m.mu.Unlock()
	return m.base.RoundTrip(req)
}

// TestGeneratedClientReadsOverGET checks that the generated client's reads
// really go out as GET (the connect-get protocol of TestCatalog relies on
// it) and its writes as POST.
func TestGeneratedClientReadsOverGET(t *testing.T) {
	t.Parallel()
	rec := &methodRecorder{base: http1Client(t).Transport}
	var opts []connect.ClientOption
	opts = append(opts, connect.WithHTTPGet())
	if adminToken != "" {
		opts = append(opts, connect.WithInterceptors(bearer(adminToken)))
	}
	c := catalogv1connect.NewCatalogServiceClient(&http.Client{Transport: rec}, srv.baseURL, opts...)
	_, err := c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: newID()}))
	wantCode(t, err, connect.CodeNotFound)
	if _, err := c.ListCategories(t.Context(), connect.NewRequest(&catalogv1.ListCategoriesRequest{PageSize: 1})); err != nil {
		t.Fatalf("ListCategories: %v", err)
	}
	_, err = c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: newID()}))
	wantCode(t, err, connect.CodeNotFound)
	want := []string{
		"GET " + catalogv1connect.CatalogServiceGetBookProcedure,
		"GET " + catalogv1connect.CatalogServiceListCategoriesProcedure,
		"POST " + catalogv1connect.CatalogServiceDeleteBookProcedure,
	}
	if !slices.Equal(rec.methods, want) {
		t.Errorf("requests %v, want %v", rec.methods, want)
	}
}
