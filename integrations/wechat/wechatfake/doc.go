// Package wechatfake is an in-process fake of two WeChat services: the mini-program server API
// (api.weixin.qq.com: login, access tokens, phone numbers, subscribe messages, shipping uploads and
// mini-program codes) and WeChat Pay APIv3 (api.mch.weixin.qq.com: JSAPI prepay, order query and close,
// domestic refunds, the platform certificate list, and signed, encrypted notifications).
//
// It is a working implementation, not a mock: a Fake keeps real state (codes, tokens, transactions,
// refunds), speaks WeChat's documented wire formats, verifies WECHATPAY2-SHA256-RSA2048 request
// signatures, signs every answer to an authenticated request with the platform key or certificate key,
// and delivers AEAD_AES_256_GCM-encrypted notifications with WeChat's retry behaviour. Tests drive it with
// the real SDKs (silenceper/wechat and wechatpay-go) over real HTTP, and sandbox deployments serve it so
// that the whole flow runs offline.
//
// Errors are answered the way WeChat answers them: the mini-program API with HTTP 200 and
// {"errcode","errmsg"}, WeChat Pay with its HTTP status and {"code","message","detail"}.
//
// The package holds test key material only and must never be used to talk to real WeChat: it is a
// server that pretends to be WeChat, not a client of it.
package wechatfake
