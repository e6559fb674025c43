package catalogstore

import (
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// errTable translates the driver errors of the catalog's stores: the
// constraints clients can run into, and what they read then.
var errTable = postgres.ErrorTable{
	Store: "catalog",
	Constraints: map[string]func() error{
		"books_isbn_key": func() error { return failure.AlreadyExists("a book with this ISBN already exists") },
		"categories_name_key": func() error {
			return failure.AlreadyExists("a category with this name already exists")
		},
		"publishers_name_key": func() error {
			return failure.AlreadyExists("a publisher with this name already exists")
		},
		"books_category_id_fkey": func() error {
			return failure.Invalid(catalog.RequestField+"."+catalog.FieldCategoryID, "does not name an existing category")
		},
		"books_publisher_id_fkey": func() error {
			return failure.Invalid(catalog.RequestField+"."+catalog.FieldPublisherID, "does not name an existing publisher")
		},
		"book_authors_author_id_fkey": func() error {
			return failure.Invalid(catalog.RequestField+"."+catalog.FieldAuthorIDs, "names an author that does not exist")
		},
		"books_stock_check": func() error { return failure.FailedPrecondition("not enough copies in stock") },
	},
	OutOfRange: func() error {
		return failure.Invalid(catalog.RequestField, "a value is out of the range the catalog accepts")
	},
}
