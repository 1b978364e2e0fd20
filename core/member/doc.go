// Package member owns the people who shop: a member is one person, whatever channels they use; identities
// (a sandbox user, a WeChat openid or unionid, an Alipay user id, later platform and till ids) point to it;
// shopper sessions are random tokens stored as hashes; binding a verified phone owned by another member
// merges the two. It knows nothing of stores or orders, except that a merge moves a member's orders with it.
package member
