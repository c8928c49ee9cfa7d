package bounces

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DeliveryRef names one row of the delivery ledger. The VERP HMAC covers
// all three ids, so a delivery id that SQLite hands out again after an
// erasure does not make an old bounce address valid for someone else.
type DeliveryRef struct {
	ID, EditionID, SubscriberID int64
}

// macLen is how many hex digits of the HMAC-SHA256 a VERP address keeps:
// 64 bits, far beyond guessing, and the local part stays under RFC 5321's
// 64 octets.
const macLen = 16

func verpMAC(key []byte, d DeliveryRef) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "verp:%d:%d:%d", d.ID, d.EditionID, d.SubscriberID)
	return hex.EncodeToString(m.Sum(nil))[:macLen]
}

// VERP is the envelope sender of one delivery: for the bounce address
// bounce@bounces.example.com, bounce+ID-HMAC@bounces.example.com. A
// relay sends the delivery's bounce there, so the bounce names the
// delivery even when it omits the original message.
func VERP(bounceAddress string, key []byte, d DeliveryRef) string {
	local, domain := split(bounceAddress)
	return local + "+" + strconv.FormatInt(d.ID, 10) + "-" + verpMAC(key, d) + "@" + domain
}

// ParseVERP reads a VERP address: the delivery id and the HMAC to check
// against the delivery row with VerifyVERP. ok is false for any other
// address.
func ParseVERP(addr string) (id int64, mac string, ok bool) {
	local, _ := split(strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>")))
	plus := strings.IndexByte(local, '+')
	if plus < 0 || strings.HasPrefix(local, unsubscribeLocal+"+") {
		return 0, "", false
	}
	rest := local[plus+1:]
	dash := strings.LastIndexByte(rest, '-')
	if dash < 0 {
		return 0, "", false
	}
	id, err := strconv.ParseInt(rest[:dash], 10, 64)
	if err != nil || id <= 0 || len(rest[dash+1:]) != macLen {
		return 0, "", false
	}
	return id, rest[dash+1:], true
}

// VerifyVERP reports whether mac is the HMAC of the delivery, compared in
// constant time.
func VerifyVERP(key []byte, d DeliveryRef, mac string) bool {
	return hmac.Equal([]byte(verpMAC(key, d)), []byte(strings.ToLower(mac)))
}

const unsubscribeLocal = "unsubscribe"

// UnsubscribeMailto is the mailto: of List-Unsubscribe when a bounce
// address is configured: unsubscribe+TOKEN@ the bounce domain, with the
// list's name in the subject so that the reader leaves that list only.
// digest reads such messages from the same pipe or mailbox as bounces.
func UnsubscribeMailto(bounceAddress, token, list string) string {
	_, domain := split(bounceAddress)
	return "mailto:" + unsubscribeLocal + "+" + token + "@" + domain + "?subject=" + url.PathEscape("unsubscribe "+list)
}

// ParseUnsubscribeAddress returns the token of an unsubscribe+TOKEN@
// address. The token is case-sensitive: an MTA must not fold the local
// part (Postfix pipe without the u flag).
func ParseUnsubscribeAddress(addr string) (token string, ok bool) {
	local, _ := split(strings.Trim(strings.TrimSpace(addr), "<>"))
	prefix := unsubscribeLocal + "+"
	if len(local) <= len(prefix) || !strings.EqualFold(local[:len(prefix)], prefix) {
		return "", false
	}
	return local[len(prefix):], true
}

func split(addr string) (local, domain string) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, ""
	}
	return addr[:at], addr[at+1:]
}
