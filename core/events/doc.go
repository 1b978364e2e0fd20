// Package events owns what the hub tells the outside world and its operators: the outgoing event queue
// (a row written in the transaction of the change it reports) and the alerts an operator must look at.
// Every room writes through it; it decides nothing about orders, stock or members, and imports nothing
// of core but domain.
package events
