// Package protoconv converts the core's values to the contract's shared
// protobuf types, once for every adapter that speaks the contract: the RPC
// handlers answering clients and the stores serializing domain events. It
// is neutral like package events (no technology, no context), so any
// adapter may import it.
package protoconv

import (
	"github.com/bookworm-store/bookworm/internal/core/money"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// Money returns the contract's form of m (google.type.Money semantics:
// whole units and nanos); nil for the zero Money, which means "none" (no
// sale price, say).
func Money(m money.Money) *typev1.Money {
	if m.IsZero() {
		return nil
	}
	units, nanos := m.UnitsNanos()
	return &typev1.Money{CurrencyCode: m.Currency(), Units: units, Nanos: nanos}
}
