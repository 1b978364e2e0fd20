// Package shelf owns shelf QR codes: the codes (a product at a store, a store, a campaign, a trace batch
// or one unit of it), trace batches and their journeys, resolving a scan with the stock near the shopper,
// the in-memory scan counter flushed to the database, the scan and conversion report, and the printable
// label sheets. It stands on catalog for stores, products and stock, and on the qrcode package for drawing;
// it reads orders only to attribute them to scans, and never changes them.
package shelf
