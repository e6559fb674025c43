package e2e

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// entity is an author, category or publisher seen through its kind's RPCs.
type entity struct {
	id, name, text, etag   string
	createTime, updateTime time.Time
}

// entityKind runs the same cases over authors, categories and publishers.
type entityKind struct {
	name      string // the request field and the prefix of violations
	nameMax   int
	textField string // "" when the kind has no free text
	textMax   int
	unique    bool // names are unique
	create    func(t *testing.T, c client, in *entity) (entity, error)
	get       func(t *testing.T, c client, id string) (entity, error)
	list      func(t *testing.T, c client, size int32, token string) ([]entity, string, error)
	update    func(t *testing.T, c client, id, etag string, in *entity, m *fieldmaskpb.FieldMask) (entity, error)
	remove    func(t *testing.T, c client, id string) error
	// refer makes a book refer to the entity; shown reads the entity's name
	// off the book.
	refer func(b *catalogv1.BookInput, id string)
	shown func(b *catalogv1.Book) string
}

func times(create, update *timestamppb.Timestamp) (time.Time, time.Time) {
	return create.AsTime(), update.AsTime()
}

func fromAuthor(a *catalogv1.Author) entity {
	e := entity{id: a.GetId(), name: a.GetName(), text: a.GetBiography(), etag: a.GetEtag()}
	e.createTime, e.updateTime = times(a.GetCreateTime(), a.GetUpdateTime())
	return e
}

func fromCategory(a *catalogv1.Category) entity {
	e := entity{id: a.GetId(), name: a.GetName(), text: a.GetDescription(), etag: a.GetEtag()}
	e.createTime, e.updateTime = times(a.GetCreateTime(), a.GetUpdateTime())
	return e
}

func fromPublisher(a *catalogv1.Publisher) entity {
	e := entity{id: a.GetId(), name: a.GetName(), etag: a.GetEtag()}
	e.createTime, e.updateTime = times(a.GetCreateTime(), a.GetUpdateTime())
	return e
}

func entityKinds() []entityKind {
	return []entityKind{
		{
			name: "author", nameMax: 200, textField: "biography", textMax: 5000,
			create: func(t *testing.T, c client, in *entity) (entity, error) {
				req := &catalogv1.CreateAuthorRequest{}
				if in != nil {
					req.Author = &catalogv1.AuthorInput{Name: in.name, Biography: in.text}
				}
				res, err := c.CreateAuthor(t.Context(), connect.NewRequest(req))
				if err != nil {
					return entity{}, err
				}
				return fromAuthor(res.Msg.GetAuthor()), nil
			},
			get: func(t *testing.T, c client, id string) (entity, error) {
				res, err := c.GetAuthor(t.Context(), connect.NewRequest(&catalogv1.GetAuthorRequest{Id: id}))
				if err != nil {
					return entity{}, err
				}
				return fromAuthor(res.Msg.GetAuthor()), nil
			},
			list: func(t *testing.T, c client, size int32, token string) ([]entity, string, error) {
				res, err := c.ListAuthors(t.Context(), connect.NewRequest(&catalogv1.ListAuthorsRequest{PageSize: size, PageToken: token}))
				if err != nil {
					return nil, "", err
				}
				var out []entity
				for _, a := range res.Msg.GetAuthors() {
					out = append(out, fromAuthor(a))
				}
				return out, res.Msg.GetNextPageToken(), nil
			},
			update: func(t *testing.T, c client, id, etag string, in *entity, m *fieldmaskpb.FieldMask) (entity, error) {
				req := &catalogv1.UpdateAuthorRequest{Id: id, Etag: etag, UpdateMask: m}
				if in != nil {
					req.Author = &catalogv1.AuthorInput{Name: in.name, Biography: in.text}
				}
				res, err := c.UpdateAuthor(t.Context(), connect.NewRequest(req))
				if err != nil {
					return entity{}, err
				}
				return fromAuthor(res.Msg.GetAuthor()), nil
			},
			remove: func(t *testing.T, c client, id string) error {
				_, err := c.DeleteAuthor(t.Context(), connect.NewRequest(&catalogv1.DeleteAuthorRequest{Id: id}))
				return err
			},
			refer: func(b *catalogv1.BookInput, id string) { b.AuthorIds = append(b.AuthorIds, id) },
			shown: func(b *catalogv1.Book) string { return b.GetAuthorNames()[len(b.GetAuthorNames())-1] },
		},
		{
			name: "category", nameMax: 100, textField: "description", textMax: 2000, unique: true,
			create: func(t *testing.T, c client, in *entity) (entity, error) {
				req := &catalogv1.CreateCategoryRequest{}
				if in != nil {
					req.Category = &catalogv1.CategoryInput{Name: in.name, Description: in.text}
				}
				res, err := c.CreateCategory(t.Context(), connect.NewRequest(req))
				if err != nil {
					return entity{}, err
				}
				return fromCategory(res.Msg.GetCategory()), nil
			},
			get: func(t *testing.T, c client, id string) (entity, error) {
				res, err := c.GetCategory(t.Context(), connect.NewRequest(&catalogv1.GetCategoryRequest{Id: id}))
				if err != nil {
					return entity{}, err
				}
				return fromCategory(res.Msg.GetCategory()), nil
			},
			list: func(t *testing.T, c client, size int32, token string) ([]entity, string, error) {
				res, err := c.ListCategories(t.Context(), connect.NewRequest(&catalogv1.ListCategoriesRequest{PageSize: size, PageToken: token}))
				if err != nil {
					return nil, "", err
				}
				var out []entity
				for _, a := range res.Msg.GetCategories() {
					out = append(out, fromCategory(a))
				}
				return out, res.Msg.GetNextPageToken(), nil
			},
			update: func(t *testing.T, c client, id, etag string, in *entity, m *fieldmaskpb.FieldMask) (entity, error) {
				req := &catalogv1.UpdateCategoryRequest{Id: id, Etag: etag, UpdateMask: m}
				if in != nil {
					req.Category = &catalogv1.CategoryInput{Name: in.name, Description: in.text}
				}
				res, err := c.UpdateCategory(t.Context(), connect.NewRequest(req))
				if err != nil {
					return entity{}, err
				}
				return fromCategory(res.Msg.GetCategory()), nil
			},
			remove: func(t *testing.T, c client, id string) error {
				_, err := c.DeleteCategory(t.Context(), connect.NewRequest(&catalogv1.DeleteCategoryRequest{Id: id}))
				return err
			},
			refer: func(b *catalogv1.BookInput, id string) { b.CategoryId = id },
			shown: func(b *catalogv1.Book) string { return b.GetCategoryName() },
		},
		{
			name: "publisher", nameMax: 200, unique: true,
			create: func(t *testing.T, c client, in *entity) (entity, error) {
				req := &catalogv1.CreatePublisherRequest{}
				if in != nil {
					req.Publisher = &catalogv1.PublisherInput{Name: in.name}
				}
				res, err := c.CreatePublisher(t.Context(), connect.NewRequest(req))
				if err != nil {
					return entity{}, err
				}
				return fromPublisher(res.Msg.GetPublisher()), nil
			},
			get: func(t *testing.T, c client, id string) (entity, error) {
				res, err := c.GetPublisher(t.Context(), connect.NewRequest(&catalogv1.GetPublisherRequest{Id: id}))
				if err != nil {
					return entity{}, err
				}
				return fromPublisher(res.Msg.GetPublisher()), nil
			},
			list: func(t *testing.T, c client, size int32, token string) ([]entity, string, error) {
				res, err := c.ListPublishers(t.Context(), connect.NewRequest(&catalogv1.ListPublishersRequest{PageSize: size, PageToken: token}))
				if err != nil {
					return nil, "", err
				}
				var out []entity
				for _, a := range res.Msg.GetPublishers() {
					out = append(out, fromPublisher(a))
				}
				return out, res.Msg.GetNextPageToken(), nil
			},
			update: func(t *testing.T, c client, id, etag string, in *entity, m *fieldmaskpb.FieldMask) (entity, error) {
				req := &catalogv1.UpdatePublisherRequest{Id: id, Etag: etag, UpdateMask: m}
				if in != nil {
					req.Publisher = &catalogv1.PublisherInput{Name: in.name}
				}
				res, err := c.UpdatePublisher(t.Context(), connect.NewRequest(req))
				if err != nil {
					return entity{}, err
				}
				return fromPublisher(res.Msg.GetPublisher()), nil
			},
			remove: func(t *testing.T, c client, id string) error {
				_, err := c.DeletePublisher(t.Context(), connect.NewRequest(&catalogv1.DeletePublisherRequest{Id: id}))
				return err
			},
			refer: func(b *catalogv1.BookInput, id string) { b.PublisherId = id },
			shown: func(b *catalogv1.Book) string { return b.GetPublisherName() },
		},
	}
}

func entityCases() []catalogCase {
	var cases []catalogCase
	for _, k := range entityKinds() {
		cases = append(cases,
			catalogCase{k.name + "/create and get", k.testCreateGet},
			catalogCase{k.name + "/create invalid", k.testCreateInvalid},
			catalogCase{k.name + "/duplicate name", k.testDuplicateName},
			catalogCase{k.name + "/get not found or invalid", k.testGetMissing},
			catalogCase{k.name + "/update", k.testUpdate},
			catalogCase{k.name + "/update invalid", k.testUpdateInvalid},
			catalogCase{k.name + "/rename shows on books", k.testRenameShows},
			catalogCase{k.name + "/delete", k.testDelete},
			catalogCase{k.name + "/delete in use", k.testDeleteInUse},
			catalogCase{k.name + "/list pages with inserts", k.testList},
			catalogCase{k.name + "/list invalid", k.testListInvalid},
		)
	}
	cases = append(cases, catalogCase{"category/concurrent creates of one name", testConcurrentCategoryCreate})
	return cases
}

func (k entityKind) mustCreate(t *testing.T, c client, name string) entity {
	t.Helper()
	e, err := k.create(t, c, &entity{name: name, text: k.sampleText()})
	if err != nil {
		t.Fatalf("create %s %q: %v", k.name, name, err)
	}
	return e
}

func (k entityKind) sampleText() string {
	if k.textField == "" {
		return ""
	}
	return "Some words about it."
}

func (k entityKind) field(f string) string { return k.name + "." + f }

func (k entityKind) testCreateGet(t *testing.T, c client) {
	name := uniq("Created")
	e, err := k.create(t, c, &entity{name: "  " + name + "\t", text: k.sampleText()})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(e.id) != 36 || e.name != name || e.text != k.sampleText() || e.etag == "" {
		t.Errorf("created %+v, want a UUID, name %q (trimmed), text %q and an etag", e, name, k.sampleText())
	}
	if e.createTime.IsZero() || e.updateTime.Before(e.createTime) {
		t.Errorf("create_time %v update_time %v", e.createTime, e.updateTime)
	}
	got, err := k.get(t, c, e.id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.id != e.id || got.name != e.name || got.text != e.text || got.etag != e.etag ||
		!got.createTime.Truncate(time.Microsecond).Equal(e.createTime.Truncate(time.Microsecond)) {
		t.Errorf("get = %+v, want %+v", got, e)
	}
	// The longest name allowed, in characters not bytes.
	long := strings.Repeat("ø", k.nameMax-10) + token(10)
	if _, err := k.create(t, c, &entity{name: long}); err != nil {
		t.Errorf("create with a name of %d characters: %v", k.nameMax, err)
	}
}

func (k entityKind) testCreateInvalid(t *testing.T, c client) {
	t.Run("no input", func(t *testing.T) {
		_, err := k.create(t, c, nil)
		wantInvalid(t, err, k.name)
	})
	cases := []struct {
		name  string
		in    entity
		field string
	}{
		{"empty name", entity{name: ""}, k.field("name")},
		{"blank name", entity{name: "  \t "}, k.field("name")},
		{"name too long", entity{name: strings.Repeat("n", k.nameMax+1)}, k.field("name")},
	}
	if k.textField != "" {
		cases = append(cases, struct {
			name  string
			in    entity
			field string
		}{k.textField + " too long", entity{name: uniq("Long Text"), text: strings.Repeat("t", k.textMax+1)}, k.field(k.textField)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.create(t, c, &tc.in)
			wantInvalid(t, err, tc.field)
		})
	}
}

func (k entityKind) testDuplicateName(t *testing.T, c client) {
	name := uniq("Twin")
	first := k.mustCreate(t, c, name)
	second, err := k.create(t, c, &entity{name: " " + name + " "})
	if !k.unique {
		if err != nil {
			t.Fatalf("two %ss may share a name: %v", k.name, err)
		}
		if second.id == first.id {
			t.Errorf("second %s has the id of the first", k.name)
		}
		return
	}
	wantCode(t, err, connect.CodeAlreadyExists)
}

func (k entityKind) testGetMissing(t *testing.T, c client) {
	_, err := k.get(t, c, newID())
	wantCode(t, err, connect.CodeNotFound)
	_, err = k.get(t, c, "nope")
	wantInvalid(t, err, "id")
}

func (k entityKind) testUpdate(t *testing.T, c client) {
	e := k.mustCreate(t, c, uniq("Before"))
	name := uniq("After")
	// Only the masked field changes.
	got, err := k.update(t, c, e.id, "", &entity{name: name, text: "ignored"}, mask("name"))
	if err != nil {
		t.Fatalf("update name: %v", err)
	}
	if got.name != name || got.text != e.text || got.etag == e.etag || got.updateTime.Before(e.updateTime) {
		t.Errorf("after renaming: %+v (before %+v)", got, e)
	}
	if k.textField != "" {
		text := "New " + k.textField
		got2, err := k.update(t, c, e.id, got.etag, &entity{text: text}, mask(k.textField))
		if err != nil {
			t.Fatalf("update %s: %v", k.textField, err)
		}
		if got2.text != text || got2.name != name {
			t.Errorf("after changing the %s: %+v", k.textField, got2)
		}
		got = got2
	}
	// The etag guards updates.
	_, err = k.update(t, c, e.id, e.etag, &entity{name: uniq("Stale")}, mask("name"))
	wantCode(t, err, connect.CodeAborted)
	// Keeping one's own name is no conflict.
	if _, err := k.update(t, c, e.id, got.etag, &entity{name: name}, mask("name")); err != nil {
		t.Errorf("update to the same name: %v", err)
	}
	cur, err := k.get(t, c, e.id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if cur.name != name {
		t.Errorf("name = %q, want %q", cur.name, name)
	}
	if k.unique {
		other := k.mustCreate(t, c, uniq("Other"))
		_, err := k.update(t, c, other.id, "", &entity{name: name}, mask("name"))
		wantCode(t, err, connect.CodeAlreadyExists)
	}
	_, err = k.update(t, c, newID(), "", &entity{name: uniq("Ghost")}, mask("name"))
	wantCode(t, err, connect.CodeNotFound)
}

func (k entityKind) testUpdateInvalid(t *testing.T, c client) {
	e := k.mustCreate(t, c, uniq("Target"))
	foreign := "biography"
	if k.textField == "biography" {
		foreign = "description"
	}
	cases := []struct {
		name  string
		id    string
		in    *entity
		mask  *fieldmaskpb.FieldMask
		etag  string
		field string
	}{
		{"malformed id", "x", &entity{name: "N"}, mask("name"), "", "id"},
		{"no mask", e.id, &entity{name: "N"}, nil, "", "update_mask"},
		{"empty mask", e.id, &entity{name: "N"}, mask(), "", "update_mask"},
		{"unknown field", e.id, &entity{name: "N"}, mask("nickname"), "", "update_mask"},
		{"field of another kind", e.id, &entity{name: "N"}, mask(foreign), "", "update_mask"},
		{"output-only field", e.id, &entity{name: "N"}, mask("create_time"), "", "update_mask"},
		{"etag of 65 characters", e.id, &entity{name: "N"}, mask("name"), strings.Repeat("9", 65), "etag"},
		{"blank name", e.id, &entity{name: "   "}, mask("name"), "", k.field("name")},
		{"no input with name in mask", e.id, nil, mask("name"), "", k.field("name")},
		{"name too long", e.id, &entity{name: strings.Repeat("n", k.nameMax+1)}, mask("name"), "", k.field("name")},
	}
	if k.textField != "" {
		cases = append(cases, struct {
			name  string
			id    string
			in    *entity
			mask  *fieldmaskpb.FieldMask
			etag  string
			field string
		}{k.textField + " too long", e.id, &entity{text: strings.Repeat("t", k.textMax+1)}, mask(k.textField), "", k.field(k.textField)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.update(t, c, tc.id, tc.etag, tc.in, tc.mask)
			wantInvalid(t, err, tc.field)
		})
	}
}

func (k entityKind) testRenameShows(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	e := k.mustCreate(t, c, uniq("Shown"))
	b := f.createBook(t, func(b *catalogv1.BookInput) { k.refer(b, e.id) })
	if got := k.shown(b); got != e.name {
		t.Fatalf("book shows %q, want %q", got, e.name)
	}
	name := uniq("Renamed")
	if _, err := k.update(t, c, e.id, "", &entity{name: name}, mask("name")); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if got := k.shown(getBook(t, c, b.GetId())); got != name {
		t.Errorf("after the rename the book shows %q, want %q", got, name)
	}
}

func (k entityKind) testDelete(t *testing.T, c client) {
	e := k.mustCreate(t, c, uniq("Doomed"))
	if err := k.remove(t, c, e.id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := k.get(t, c, e.id)
	wantCode(t, err, connect.CodeNotFound)
	wantCode(t, k.remove(t, c, e.id), connect.CodeNotFound)
	wantCode(t, k.remove(t, c, newID()), connect.CodeNotFound)
	wantInvalid(t, k.remove(t, c, "not-an-id"), "id")
	if k.unique {
		// The name is free again.
		k.mustCreate(t, c, e.name)
	}
}

// testDeleteInUse: an entity a live book refers to cannot be deleted; once
// the book is deleted it can, and the deleted book stays readable.
func (k entityKind) testDeleteInUse(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	e := k.mustCreate(t, c, uniq("Used"))
	b := f.createBook(t, func(b *catalogv1.BookInput) { k.refer(b, e.id) })
	wantCode(t, k.remove(t, c, e.id), connect.CodeFailedPrecondition)
	if _, err := k.get(t, c, e.id); err != nil {
		t.Fatalf("get after the refused delete: %v", err)
	}
	if _, err := c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: b.GetId()})); err != nil {
		t.Fatalf("DeleteBook: %v", err)
	}
	if err := k.remove(t, c, e.id); err != nil {
		t.Fatalf("delete once only a deleted book refers to it: %v", err)
	}
	got := getBook(t, c, b.GetId())
	if !got.GetDeleted() || got.GetId() != b.GetId() {
		t.Errorf("GetBook of the deleted book = %v, want it with deleted = true", got)
	}
	if _, err := batchGet(t, c, b.GetId()); err != nil {
		t.Errorf("BatchGetBooks of the deleted book: %v", err)
	}
}

// testList walks every page of the kind while adding entities between pages:
// nothing twice, nothing that existed before skipped, the test's own
// entities in name order.
func (k entityKind) testList(t *testing.T, c client) {
	prefix := "LIST " + token(8) + " "
	var before []string
	for range 7 {
		before = append(before, k.mustCreate(t, c, prefix+token(6)).id)
	}
	var all []entity
	tok := ""
	seenTok := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("still pages after %d", maxPages)
		}
		es, next, err := k.list(t, c, 25, tok)
		if err != nil {
			t.Fatalf("list page %d: %v", page, err)
		}
		if len(es) > 25 {
			t.Fatalf("page of %d, page_size 25", len(es))
		}
		all = append(all, es...)
		if next == "" {
			break
		}
		if seenTok[next] {
			t.Fatalf("page token %q repeated", next)
		}
		seenTok[next] = true
		tok = next
		k.mustCreate(t, c, prefix+token(6))
	}
	ids := make([]string, len(all))
	var ours []string
	for i, e := range all {
		ids[i] = e.id
		if strings.HasPrefix(e.name, prefix) {
			ours = append(ours, e.name)
		}
	}
	wantNoDuplicates(t, ids)
	wantAll(t, ids, before)
	if !slices.IsSorted(ours) {
		t.Errorf("not in name order: %v", ours)
	}
	// Small pages from the start reach the same first entities.
	es, next, err := k.list(t, c, 1, "")
	if err != nil || len(es) != 1 || next == "" {
		t.Errorf("page_size 1: %d entities, token %q, err %v; want 1 and a token", len(es), next, err)
	}
	es, next, err = k.list(t, c, 0, "")
	if err != nil || len(es) > 20 || (len(es) < 20 && next != "") {
		t.Errorf("page_size 0: %d entities, token %q, err %v; want 20 (the default) or all of them", len(es), next, err)
	}
}

func (k entityKind) testListInvalid(t *testing.T, c client) {
	for _, tc := range []struct {
		name  string
		size  int32
		token string
		field string
	}{
		{"page_size 101", 101, "", "page_size"},
		{"negative page_size", -1, "", "page_size"},
		{"garbage page_token", 0, "%%%", "page_token"},
		{"page_token of 1025 characters", 0, strings.Repeat("A", 1025), "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := k.list(t, c, tc.size, tc.token)
			wantInvalid(t, err, tc.field)
		})
	}
}

// testConcurrentCategoryCreate: of several concurrent creates of one name,
// exactly one succeeds and the others get AlreadyExists.
func testConcurrentCategoryCreate(t *testing.T, c client) {
	const n = 6
	name := uniq("Contested")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.CreateCategory(t.Context(), connect.NewRequest(&catalogv1.CreateCategoryRequest{
				Category: &catalogv1.CategoryInput{Name: name},
			}))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		if connect.CodeOf(err) != connect.CodeAlreadyExists {
			t.Errorf("concurrent create: %v, want success or AlreadyExists", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent creates of one name succeeded, want 1", ok, n)
	}
}
