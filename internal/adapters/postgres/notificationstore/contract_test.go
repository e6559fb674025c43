package notificationstore

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/notification/notificationtest"
)

// TestStoreContract runs the ports' contract on the Postgres store, as a
// role granted only the schemas notification and events: passing it also
// shows that the store touches no other context's tables.
func TestStoreContract(t *testing.T) {
	notificationtest.Run(t, func(t *testing.T) notificationtest.Store {
		return NewStore(pgtest.RolePool(t, pgtest.NewDatabase(t), "notification", "events"))
	})
}
