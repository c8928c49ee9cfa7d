package bounces

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

type webhookCase struct {
	name string
	// request builds a request for the event; sign=false signs it wrongly.
	request func(t *testing.T, url string, sign bool) *http.Request
}

func post(t *testing.T, url, body string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// Each webhook: a correctly signed request applies the event once, the
// same request again changes nothing, a wrongly signed one gets 401 and
// a malformed body 400, and neither changes anything.
func TestWebhooks(t *testing.T) {
	now := time.Now()
	// SNS: a signing certificate generated here, served by the
	// injected fetcher at an Amazon URL only.
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	const certURL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
	var confirmed []string
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	snsSign := func(m map[string]string, good bool) string {
		sm := snsMessage{Type: m["Type"], MessageId: m["MessageId"], Token: m["Token"], TopicArn: m["TopicArn"], Message: m["Message"], Timestamp: m["Timestamp"], SubscribeURL: m["SubscribeURL"]}
		sum := sha256.Sum256([]byte(sm.stringToSign()))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, sum[:])
		if !good {
			sig[0] ^= 0xff
		}
		m["SignatureVersion"], m["Signature"], m["SigningCertURL"] = "2", base64.StdEncoding.EncodeToString(sig), certURL
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []webhookCase{
		{"ses", func(t *testing.T, url string, good bool) *http.Request {
			inner, _ := json.Marshal(map[string]any{"notificationType": "Bounce",
				"bounce": map[string]any{"bounceType": "Permanent", "bouncedRecipients": []map[string]string{{"emailAddress": fixtureEmail, "status": "5.1.1"}}},
				"mail":   map[string]any{"messageId": "ses-1", "source": "digest@example.com"}})
			return post(t, url+"/webhooks/ses", snsSign(map[string]string{"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:eu-west-1:1:bounces",
				"Message": string(inner), "Timestamp": now.UTC().Format(time.RFC3339)}, good))
		}},
		{"postmark", func(t *testing.T, url string, good bool) *http.Request {
			req := post(t, url+"/webhooks/postmark", `{"RecordType":"Bounce","ID":4323372036854775807,"Type":"HardBounce","Email":"`+fixtureEmail+`","Details":"smtp;550 5.1.1 unknown"}`)
			pass := "pm-secret"
			if !good {
				pass = "guess"
			}
			req.SetBasicAuth("postmark", pass)
			return req
		}},
		{"mailgun", func(t *testing.T, url string, good bool) *http.Request {
			ts, token := strconv.FormatInt(now.Unix(), 10), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
			m := hmac.New(sha256.New, []byte("mg-key"))
			m.Write([]byte(ts + token))
			sig := hex.EncodeToString(m.Sum(nil))
			if !good {
				sig = strings.Repeat("0", 64)
			}
			return post(t, url+"/webhooks/mailgun", fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},
				"event-data":{"id":"ev-1","event":"failed","severity":"permanent","recipient":%q,"delivery-status":{"code":550,"message":"5.1.1 no such user"}}}`, ts, token, sig, fixtureEmail))
		}},
		{"sendgrid", func(t *testing.T, url string, good bool) *http.Request {
			body := `[{"email":"` + fixtureEmail + `","event":"bounce","type":"bounce","status":"5.1.1","sg_event_id":"sg-1","timestamp":` + strconv.FormatInt(now.Unix(), 10) + `}]`
			ts := strconv.FormatInt(now.Unix(), 10)
			sum := sha256.Sum256([]byte(ts + body))
			sig, _ := ecdsa.SignASN1(rand.Reader, ecKey, sum[:])
			if !good {
				other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				sig, _ = ecdsa.SignASN1(rand.Reader, other, sum[:])
			}
			req := post(t, url+"/webhooks/sendgrid", body)
			req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
			req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
			return req
		}},
	}
	pkix, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	sgKey, err := ParseSendGridKey(base64.StdEncoding.EncodeToString(pkix))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			failures := map[string]int{}
			h := &Webhooks{P: f.p, SES: true, PostmarkUser: "postmark", PostmarkPassword: "pm-secret", MailgunSigningKey: "mg-key", SendGridKey: sgKey,
				Failed: func(p string) { failures[p]++ },
				Fetch: func(_ context.Context, u string) ([]byte, error) {
					if u == certURL {
						return certPEM, nil
					}
					confirmed = append(confirmed, u)
					return []byte("ok"), nil
				}}
			mux := http.NewServeMux()
			h.Register(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			send := func(req *http.Request) int {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := send(c.request(t, srv.URL, false)); got != http.StatusUnauthorized {
				t.Errorf("wrongly signed: %d, want 401", got)
			}
			if f.status(t) != "active" || f.events(t) != 0 {
				t.Fatalf("a wrongly signed request changed something: %s, %d events", f.status(t), f.events(t))
			}
			bad := post(t, srv.URL+"/webhooks/"+c.name, "{not json")
			bad.SetBasicAuth("postmark", "pm-secret")
			if got := send(bad); got != http.StatusBadRequest && got != http.StatusUnauthorized {
				t.Errorf("malformed body: %d, want 400 (401 where the signature covers the body)", got)
			}
			if got := send(c.request(t, srv.URL, true)); got != http.StatusOK {
				t.Fatalf("correctly signed: %d", got)
			}
			if f.status(t) != "bounced" || f.events(t) != 1 {
				t.Fatalf("after the event: membership %s, %d events", f.status(t), f.events(t))
			}
			if got := send(c.request(t, srv.URL, true)); got != http.StatusOK || f.events(t) != 1 {
				t.Errorf("replayed: %d, %d events (want the event counted once)", got, f.events(t))
			}
			if failures[c.name] < 1 {
				t.Errorf("failures not counted: %v", failures)
			}
		})
	}
	t.Run("mailgun-old-timestamp", func(t *testing.T) {
		f := newFixture(t)
		h := &Webhooks{P: f.p, MailgunSigningKey: "mg-key", Now: func() time.Time { return now.Add(ReplayWindow + time.Minute) }}
		mux := http.NewServeMux()
		h.Register(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, cases[2].request(t, "http://x", true))
		if rec.Code != http.StatusUnauthorized || f.events(t) != 0 {
			t.Errorf("a request older than the replay window: %d, %d events", rec.Code, f.events(t))
		}
	})
	t.Run("sns-subscription-and-foreign-cert", func(t *testing.T) {
		f := newFixture(t)
		fetched := []string{}
		h := &Webhooks{P: f.p, SES: true, Fetch: func(_ context.Context, u string) ([]byte, error) {
			fetched = append(fetched, u)
			if u == certURL {
				return certPEM, nil
			}
			return nil, nil
		}}
		mux := http.NewServeMux()
		h.Register(mux)
		sub := snsSign(map[string]string{"Type": "SubscriptionConfirmation", "MessageId": "s-1", "Token": "tok", "TopicArn": "arn:aws:sns:eu-west-1:1:bounces",
			"Message": "confirm", "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok", "Timestamp": now.UTC().Format(time.RFC3339)}, true)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, post(t, "http://x/webhooks/ses", sub))
		if rec.Code != 200 || len(fetched) != 2 || !strings.Contains(fetched[1], "ConfirmSubscription") {
			t.Errorf("subscription: %d, fetched %v", rec.Code, fetched)
		}
		var m map[string]string
		json.Unmarshal([]byte(sub), &m)
		m["SigningCertURL"] = "https://evil.example.com/cert.pem"
		b, _ := json.Marshal(m)
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, post(t, "http://x/webhooks/ses", string(b)))
		if rec.Code != http.StatusUnauthorized || len(fetched) != 2 {
			t.Errorf("certificate from elsewhere: %d, fetched %v", rec.Code, fetched)
		}
	})
}
