// Package fakeorder holds what the three instant-retail platform fakes (meituanfake, elemefake, jddjfake)
// share about the orders they play: the order line and order copy their controls take and give, the
// fakes' own order states, and the sandbox order form POST /sandbox/orders that `o2ohub simulate`
// reaches through the hub. It knows no platform's wire format (each fake keeps its own) and is for the
// fakes only: connectors and the hub never import it.
package fakeorder
