// Package notification is the notification context: it tells buyers by
// email what became of their orders. It reacts to the ordering context's
// buyer-visible events (placed, confirmed, failed, cancelled, shipped,
// completed) and owns an email outbox: one email per event, queued in the
// transaction that records the event as handled, then sent by a sender
// that retries temporary failures with exponential back-off and gives up
// at once on permanent ones.
//
// The pieces, all pure:
//
//   - Notice is what an ordering event tells the buyer, in this context's
//     own words (the adapters map the contract's messages to it).
//   - Decide is the rule that makes duplicated, repeated and reordered
//     events harmless: an order is mailed about each of its versions at
//     most once, never about a version older than one already mailed.
//   - Renderer renders an Email's subject, plain-text and HTML parts from
//     embedded templates (text/template and html/template).
//   - Notifier queues the email of a notice through the Queue port;
//     Sender delivers the outbox (Outbox port) through the Mailer port.
//
// Delivery is at least once: a process that dies after the SMTP server
// accepted an email and before the outbox recorded it sent sends it again
// once its claim (the lease) expires. Every attempt of one outbox row
// carries the same Message-ID (derived from the row's id), so the
// duplicate is recognisable as such. Several senders never send one row at
// the same time: a claim hides the row from other claims for the lease,
// which is longer than any send may take.
package notification
