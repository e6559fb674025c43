// Package ordering is the Ordering context's domain: the Order aggregate and
// its state machine, the checkout saga that moves an order from PENDING to
// CONFIRMED or FAILED, the order's later life (cancel, ship, complete) and
// the ports those use cases need.
//
// The state machine (CanTransition):
//
//	PENDING ─▶ STOCK_RESERVED ─▶ (AWAITING_PAYMENT ─▶) CONFIRMED ─▶ SHIPPED ─▶ COMPLETED
//	   │              │                  │                 │
//	   └──────────────┴──────────────────┴─▶ FAILED        └─▶ CANCELLED (also from the first three)
//
// Every transition is a method of Order that checks its source status,
// appends a HistoryEntry and returns the domain events it raises (events.go);
// a transition that already happened is a no-op, so every saga step can be
// redelivered. What a late answer leaves behind (a charge landing on a
// cancelled order) is settled by a Compensation the sweeper retries until
// the gateway confirms it.
//
// How the adapters drive it (the later step of issue 9):
//
//	RPC PlaceOrder ...................... Service.PlaceOrder (raises OrderPlaced)
//	catalog consumes OrderPlaced ........ stock.Service.Reserve → StockReserved | StockRejected
//	ordering consumes StockReserved ..... Service.OnStockReserved (charges the gateway)
//	ordering consumes StockRejected ..... Service.OnStockRejected
//	gateway webhook ..................... Service.OnPaymentUpdate
//	catalog consumes OrderConfirmed ..... stock.Service.Commit; basket: basket.Service.ClearForOrder
//	catalog consumes OrderFailed/OrderCancelled (ReleaseStock) ... stock.Service.Release
//	a ticker and the start of every replica ... Service.ResumeStuck
//
// The events map one to one onto bookworm.ordering.v1 (events.proto); the
// stock events onto bookworm.catalog.v1 (stock_events.proto).
package ordering
