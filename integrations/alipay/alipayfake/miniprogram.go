package alipayfake

import (
	"errors"
)

// IssueAuthCode plays my.getAuthCode in the mini-program: it returns a single-use auth code that
// alipay.system.oauth.token exchanges for the user's ids. Either id may be empty: apps created since
// Alipay introduced open_id get only open_id, older ones user_id (2088…).
func (f *Fake) IssueAuthCode(userID, openID string) string {
	code := randomHex(14) + "X" + randomHex(1)
	f.mu.Lock()
	f.codes[code] = user{userID: userID, openID: openID}
	f.mu.Unlock()
	return code
}

// EncryptedPhoneResponse plays my.getPhoneNumber: it returns the string the mini-program receives as
// res.response and hands to the merchant's server, {"response":"<ciphertext>","sign":"<signature>"}.
// The ciphertext is the JSON {"code":"10000","msg":"Success","mobile":"…"} encrypted with the app's
// AES key (AES-CBC, zero IV, PKCS #7, base64); the signature is RSA2 by Alipay's key over the ciphertext
// string with its double quotes, as it stands in the JSON, so a merchant verifies it with Alipay's
// public key before decrypting. Alipay's guide: "如果是加密的报文则需要在密文的前后添加双引号".
func (f *Fake) EncryptedPhoneResponse(phone string) (string, error) {
	if f.aesKey == nil {
		return "", errors.New("alipayfake: no AES key configured (Keys.AESKey)")
	}
	plain := (&object{}).str("code", "10000").str("msg", "Success").str("mobile", phone).bytes()
	enc, err := aesEncrypt(f.aesKey, plain)
	if err != nil {
		return "", err
	}
	sign, err := rsa2Sign(f.keys.AlipayKey, []byte(`"`+enc+`"`))
	if err != nil {
		return "", err
	}
	return `{"response":"` + enc + `","sign":"` + sign + `"}`, nil
}
