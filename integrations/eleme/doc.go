// Package eleme is o2ohub's connector to Ele.me retail (饿了么零售, the open platform at api-be.ele.me).
package eleme
