// The BookWorm TypeScript SDK: the generated messages and service
// descriptors of every public API. Create a client with
// createClient(CatalogService, transport) (or RatingService, BasketService,
// OrderingService, ...) from
// @connectrpc/connect and a transport from @connectrpc/connect-web (browsers) or
// @connectrpc/connect-node (Node). The error detail types (google.rpc.BadRequest,
// RetryInfo, ...) and fieldViolations / retryDelayMs read what the server
// says about a failed call.
export * from "./gen/bookworm/assistant/v1/assistant_pb.js";
export * from "./gen/bookworm/auth/v1/auth_pb.js";
export * from "./gen/bookworm/basket/v1/basket_pb.js";
export * from "./gen/bookworm/basket/v1/events_pb.js";
export * from "./gen/bookworm/catalog/v1/catalog_pb.js";
export * from "./gen/bookworm/catalog/v1/events_pb.js";
export * from "./gen/bookworm/catalog/v1/stock_events_pb.js";
export * from "./gen/bookworm/ordering/v1/events_pb.js";
export * from "./gen/bookworm/ordering/v1/ordering_pb.js";
export * from "./gen/bookworm/rating/v1/events_pb.js";
export * from "./gen/bookworm/rating/v1/rating_pb.js";
export * from "./gen/bookworm/type/v1/money_pb.js";
export * from "./errors.js";
