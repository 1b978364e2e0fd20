// Package catalog owns what the chain sells and where: stores (with their positions and the search for
// the nearest open ones), products with their one price, and stock: the on-hand and reserved count of each
// product at each store, every change made through one conditional update and recorded as a movement. It
// also imports products and stock from CSV (UTF-8 or GB18030) or an xlsx workbook. It knows nothing of
// orders, members or payments: the order flow in core reserves and commits stock through MoveStock.
package catalog
