// Package cn holds the two facts about China every layer of o2ohub needs: its time zone and how an
// amount in integer fen is written in yuan. It is a leaf: it imports only the standard library, and holds
// no business rule.
package cn
