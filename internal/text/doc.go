// Package text decides whether text from outside the hub may be kept, and cleans the text the hub must
// keep whatever it holds. Check refuses a string with a NUL, with bytes that are not UTF-8 or with a
// control character, and, for text that is printed (names, addresses, anything on a label or ticket),
// with any control or bidirectional override character; CheckJSON applies Check to every string of a
// JSON document before it is decoded, naming the string by its JSON path; Clean makes the text of a
// verified notification or platform push safe to store, show and print without refusing it.
//
// It is a leaf: it imports only the standard library and knows nothing of HTTP, the database or which
// field is which; the HTTP layer says how strict each field is.
package text
