package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func record(id string) *sdk.CallRecord { return sdktest.SampleRecord(id) }

// verify is what a receiver does with a request (README.md shows it): check
// the signature over "<timestamp>.<body>", then that the timestamp is
// recent.
func verify(secret []byte, r *http.Request, body []byte, now time.Time) error {
	ts := r.Header.Get("X-Voxgate-Timestamp")
	sig, ok := strings.CutPrefix(r.Header.Get("X-Voxgate-Signature"), "v1=")
	if !ok {
		return errors.New("no v1 signature")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return errors.New("malformed signature")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("bad signature")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("malformed timestamp")
	}
	if age := now.Sub(time.Unix(secs, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return errors.New("timestamp too old (or in the future): replay refused")
	}
	return nil
}

// payloadV1 is the request body.
type payloadV1 struct {
	SchemaVersion int               `json:"schema_version"`
	Records       []*sdk.CallRecord `json:"records"`
}

// receiver is a webhook endpoint: it verifies every request, then lets
// script answer it or stores its records and answers 200.
type receiver struct {
	secret []byte
	// script may answer attempt n (from 1) itself, after verification;
	// returning false lets the request be stored.
	script func(n int, w http.ResponseWriter, r *http.Request) bool

	mu       sync.Mutex
	attempts int
	times    []time.Time
	headers  []http.Header
	bodies   [][]byte
	refused  []string // why requests were refused with 401
	stored   map[string]*sdk.CallRecord
	order    []string // ids, first storage only
}

func newReceiver(script func(n int, w http.ResponseWriter, r *http.Request) bool) *receiver {
	return &receiver{secret: []byte(testSecret), script: script, stored: map[string]*sdk.CallRecord{}}
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	rv.mu.Lock()
	rv.attempts++
	n := rv.attempts
	rv.times = append(rv.times, time.Now())
	rv.headers = append(rv.headers, r.Header.Clone())
	rv.bodies = append(rv.bodies, body)
	rv.mu.Unlock()
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusUnsupportedMediaType)
		return
	}
	if err := verify(rv.secret, r, body, time.Now()); err != nil {
		rv.mu.Lock()
		rv.refused = append(rv.refused, err.Error())
		rv.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if rv.script != nil && rv.script(n, w, r) {
		return
	}
	var p payloadV1
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.SchemaVersion != 1 {
		http.Error(w, fmt.Sprintf("bad body (%v, schema_version %d)", err, p.SchemaVersion), http.StatusBadRequest)
		return
	}
	rv.mu.Lock()
	for _, rec := range p.Records {
		if _, dup := rv.stored[rec.ID]; !dup { // at-least-once: keyed on id
			rv.order = append(rv.order, rec.ID)
		}
		rv.stored[rec.ID] = rec
	}
	rv.mu.Unlock()
	io.WriteString(w, "ok")
}

func (rv *receiver) Attempts() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.attempts
}

func (rv *receiver) Stored() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return slices.Clone(rv.order)
}

func (rv *receiver) Record(id string) *sdk.CallRecord {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.stored[id]
}

func (rv *receiver) Body(i int) []byte {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.bodies[i]
}

func (rv *receiver) Header(i int) http.Header {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.headers[i]
}

func (rv *receiver) Times() []time.Time {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return slices.Clone(rv.times)
}

func (rv *receiver) Refused() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return slices.Clone(rv.refused)
}

// serveTLS starts rv on a loopback HTTPS server and writes the server's
// certificate to a PEM file for tls_ca_file.
func serveTLS(t *testing.T, h http.Handler) (srv *httptest.Server, caFile string) {
	t.Helper()
	srv = httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake errors the tests cause on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, caFile, srv.Certificate().Raw)
	return srv, caFile
}

func writePEM(t *testing.T, file string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func baseConfig(srv *httptest.Server, caFile string) map[string]any {
	return map[string]any{"url": srv.URL + "/cdr", "secret": testSecret, "tls_ca_file": caFile}
}

// fast shortens the retry delays, to keep the tests quick.
func fast(e *exporter) *exporter {
	e.firstBackoff, e.maxBackoff = 5*time.Millisecond, 20*time.Millisecond
	return e
}

func serve(t *testing.T, e *exporter, cfg map[string]any) *sdktest.Conn {
	t.Helper()
	conn := sdktest.InProcess(t, e)
	if err := conn.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	return conn
}

func records(ids ...string) []*sdk.CallRecord {
	var out []*sdk.CallRecord
	for _, id := range ids {
		out = append(out, record(id))
	}
	return out
}

func TestDeliver(t *testing.T) {
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	cfg := baseConfig(srv, ca)
	cfg["headers"] = map[string]string{"x-tenant": "acme", "Authorization": "Bearer t0k3n"}
	conn := serve(t, newExporter(), cfg)

	recs := records("a", "b", "c")
	recs[1].AnswerTime, recs[1].Disposition, recs[1].Legs, recs[1].Variables = "", "rejected", nil, nil
	acked, err := conn.Export(recs...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "b", "c"}) {
		t.Fatalf("acked %v, want [a b c]", acked)
	}
	if rv.Attempts() != 1 {
		t.Fatalf("%d requests, want 1", rv.Attempts())
	}
	for i, id := range []string{"a", "b", "c"} {
		if got := rv.Record(id); !reflect.DeepEqual(got, recs[i]) {
			t.Errorf("stored %s =\n%+v\nwant\n%+v", id, got, recs[i])
		}
	}
	// The body is the envelope around exactly json.Marshal of each record.
	var want bytes.Buffer
	want.WriteString(`{"schema_version":1,"records":[`)
	for i, r := range recs {
		b, _ := json.Marshal(r)
		if i > 0 {
			want.WriteByte(',')
		}
		want.Write(b)
	}
	want.WriteString("]}")
	if !bytes.Equal(rv.Body(0), want.Bytes()) {
		t.Errorf("body\n%s\nwant\n%s", rv.Body(0), want.Bytes())
	}
	h := rv.Header(0)
	if h.Get("X-Tenant") != "acme" || h.Get("Authorization") != "Bearer t0k3n" {
		t.Errorf("extra headers missing: %v", h)
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "voxgate-cdr-webhook/") {
		t.Errorf("User-Agent %q", h.Get("User-Agent"))
	}

	// An empty batch sends nothing.
	if acked, err := conn.Export(); err != nil || len(acked) != 0 || rv.Attempts() != 1 {
		t.Fatalf("empty batch: %v, %v, %d requests", acked, err, rv.Attempts())
	}
}

// Any 2xx acknowledges the batch.
func TestAny2xxAcks(t *testing.T) {
	for _, code := range []int{200, 201, 202, 204} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			rv := newReceiver(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
				w.WriteHeader(code)
				return true
			})
			srv, ca := serveTLS(t, rv)
			acked, err := serve(t, newExporter(), baseConfig(srv, ca)).Export(records("a", "b")...)
			if err != nil || !slices.Equal(acked, []string{"a", "b"}) {
				t.Fatalf("acked %v, err %v", acked, err)
			}
		})
	}
}

// 503 twice, then 200: acknowledged after three attempts, each one signed
// afresh and verified by the receiver.
func TestRetryThenDeliver(t *testing.T) {
	rv := newReceiver(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n <= 2 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	srv, ca := serveTLS(t, rv)
	acked, err := serve(t, newExporter(), baseConfig(srv, ca)).Export(records("a", "b")...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acked, []string{"a", "b"}) {
		t.Fatalf("acked %v", acked)
	}
	if n := rv.Attempts(); n != 3 {
		t.Fatalf("receiver saw %d attempts, want 3", n)
	}
	if got := rv.Stored(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("stored %v", got)
	}
	if refused := rv.Refused(); len(refused) != 0 {
		t.Fatalf("receiver refused: %v", refused)
	}
}

// 408, 429 and 5xx are retried.
func TestRetryableStatuses(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			rv := newReceiver(func(n int, w http.ResponseWriter, _ *http.Request) bool {
				if n == 1 {
					w.WriteHeader(code)
					return true
				}
				return false
			})
			srv, ca := serveTLS(t, rv)
			acked, err := serve(t, fast(newExporter()), baseConfig(srv, ca)).Export(record("a"))
			if err != nil || !slices.Equal(acked, []string{"a"}) {
				t.Fatalf("acked %v, err %v", acked, err)
			}
			if n := rv.Attempts(); n != 2 {
				t.Fatalf("%d attempts, want 2", n)
			}
		})
	}
}

// Other 4xx (and 3xx) are not retried: nothing is acknowledged and the
// error names the status and the start of the body.
func TestNoRetryOnOther4xx(t *testing.T) {
	for _, tt := range []struct {
		code int
		want []string
	}{
		{400, []string{"status 400 Bad Request", `"schema_version 2 expected"`, "not retried"}},
		{401, []string{"status 401", "secret"}},
		{403, []string{"status 403", "secret"}},
		{404, []string{"status 404 Not Found"}},
		{413, []string{"status 413"}},
		{422, []string{"status 422"}},
		{302, []string{"status 302", "redirects are not followed", "/elsewhere"}},
		{307, []string{"status 307", "redirects are not followed"}},
	} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			rv := newReceiver(func(n int, w http.ResponseWriter, r *http.Request) bool {
				if tt.code/100 == 3 {
					http.Redirect(w, r, "/elsewhere", tt.code)
					return true
				}
				http.Error(w, "schema_version 2 expected", tt.code)
				return true
			})
			srv, ca := serveTLS(t, rv)
			acked, err := serve(t, newExporter(), baseConfig(srv, ca)).Export(records("a", "b")...)
			if len(acked) != 0 || err == nil {
				t.Fatalf("acked %v, err %v; want nothing acked and an error", acked, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if n := rv.Attempts(); n != 1 {
				t.Fatalf("%d requests, want 1: no retry, no redirect followed", n)
			}
			t.Logf("refused as: %v", err)
		})
	}
}

// A long error body is cut in the error message.
func TestErrorExcerptIsShort(t *testing.T) {
	rv := newReceiver(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "bad\r\nrequest "+strings.Repeat("x", 10_000), http.StatusBadRequest)
		return true
	})
	srv, ca := serveTLS(t, rv)
	_, err := serve(t, newExporter(), baseConfig(srv, ca)).Export(record("a"))
	if err == nil || !strings.Contains(err.Error(), `"bad request xxx`) || len(err.Error()) > 1000 {
		t.Fatalf("err = %v", err)
	}
}

// 429 with Retry-After: 1 is retried, not before a second has passed.
func TestRetryAfter(t *testing.T) {
	rv := newReceiver(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	srv, ca := serveTLS(t, rv)
	acked, err := serve(t, fast(newExporter()), baseConfig(srv, ca)).Export(record("a"))
	if err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	if n := rv.Attempts(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
	times := rv.Times()
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Fatalf("retried after %v, before the Retry-After of 1s", gap)
	}
}

// A Retry-After beyond the cap waits only the cap.
func TestRetryAfterCapped(t *testing.T) {
	rv := newReceiver(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	srv, ca := serveTLS(t, rv)
	e := newExporter()
	e.maxRetryAfter = 10 * time.Millisecond
	acked, err := serve(t, e, baseConfig(srv, ca)).Export(record("a"))
	if err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
}

// When the next attempt could only start after the export's deadline, the
// plugin gives up at once rather than being cut off while waiting.
func TestGivesUpBeforeTheDeadline(t *testing.T) {
	rv := newReceiver(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Retry-After", "30") // sdktest's deadline is 10 s
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	srv, ca := serveTLS(t, rv)
	acked, err := serve(t, newExporter(), baseConfig(srv, ca)).Export(record("a"))
	if len(acked) != 0 || err == nil || !strings.Contains(err.Error(), "export deadline") {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	if n := rv.Attempts(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

func TestGiveUpAfterMaxRetries(t *testing.T) {
	for _, retries := range []int{0, 2} {
		t.Run(strconv.Itoa(retries), func(t *testing.T) {
			rv := newReceiver(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
				http.Error(w, "down", http.StatusInternalServerError)
				return true
			})
			srv, ca := serveTLS(t, rv)
			cfg := baseConfig(srv, ca)
			cfg["max_retries"] = retries
			acked, err := serve(t, fast(newExporter()), cfg).Export(record("a"))
			if len(acked) != 0 || err == nil {
				t.Fatalf("acked %v, err %v", acked, err)
			}
			for _, want := range []string{fmt.Sprintf("after %d attempts", retries+1), "status 500", `"down"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if n := rv.Attempts(); n != retries+1 {
				t.Fatalf("%d attempts, want %d", n, retries+1)
			}
		})
	}
}

// A connection dropped without an answer is retried.
func TestRetryNetworkError(t *testing.T) {
	rv := newReceiver(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}
		return false
	})
	srv, ca := serveTLS(t, rv)
	acked, err := serve(t, fast(newExporter()), baseConfig(srv, ca)).Export(record("a"))
	if err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	if got := rv.Stored(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("stored %v", got)
	}
}

// An attempt without an answer within timeout_ms is abandoned and retried.
func TestAttemptTimeout(t *testing.T) {
	done := make(chan struct{})
	rv := newReceiver(func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-done:
			}
			// Never a success: returning without a status would be an
			// implicit 200, which a client that raced its own cancel
			// could still read and rightly ack.
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	srv, ca := serveTLS(t, rv)
	t.Cleanup(func() { close(done) }) // runs before srv.Close
	cfg := baseConfig(srv, ca)
	cfg["timeout_ms"] = 2000 // generous: under -race and load a TLS handshake alone can take 200 ms
	acked, err := serve(t, fast(newExporter()), cfg).Export(record("a"))
	if err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	if n := rv.Attempts(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

// Cancelling the export's context ends it at once, during a request or
// while waiting to retry, with nothing acknowledged.
func TestContextCancelled(t *testing.T) {
	for _, during := range []string{"request", "backoff"} {
		t.Run(during, func(t *testing.T) {
			entered := make(chan struct{}, 10)
			done := make(chan struct{})
			rv := newReceiver(func(_ int, w http.ResponseWriter, r *http.Request) bool {
				entered <- struct{}{}
				if during == "request" {
					select {
					case <-r.Context().Done():
					case <-done:
					}
					w.WriteHeader(http.StatusServiceUnavailable) // never an implicit 200
					return true
				}
				w.Header().Set("Retry-After", "20")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			})
			srv, ca := serveTLS(t, rv)
			t.Cleanup(func() { close(done) })
			e := newExporter()
			serve(t, e, baseConfig(srv, ca))

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-entered
				cancel()
			}()
			acked, err := e.Export(ctx, records("a"))
			if len(acked) != 0 || !errors.Is(err, context.Canceled) {
				t.Fatalf("acked %v, err %v; want nothing and context.Canceled", acked, err)
			}
			if n := rv.Attempts(); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
		})
	}
}

// With another secret than the receiver's, the receiver answers 401 and
// nothing is acknowledged.
func TestWrongSecret(t *testing.T) {
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	cfg := baseConfig(srv, ca)
	cfg["secret"] = "not-the-receivers-secret-at-all!"
	acked, err := serve(t, newExporter(), cfg).Export(record("a"))
	if len(acked) != 0 || err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	if n := rv.Attempts(); n != 1 || len(rv.Stored()) != 0 || rv.Refused()[0] != "bad signature" {
		t.Fatalf("%d attempts, stored %v, refused %v", n, rv.Stored(), rv.Refused())
	}
}

// A timestamp older than the receiver's window is refused (replay
// protection): here the plugin's clock is 10 minutes slow.
func TestStaleTimestampRefused(t *testing.T) {
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	e := newExporter()
	e.now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	acked, err := serve(t, e, baseConfig(srv, ca)).Export(record("a"))
	if len(acked) != 0 || err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	if refused := rv.Refused(); len(refused) != 1 || !strings.Contains(refused[0], "too old") {
		t.Fatalf("refused %v", refused)
	}
}

// otherCA writes a CA certificate that did not sign the test server's.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "other-ca.pem")
	writePEM(t, file, der)
	return file
}

// A server whose certificate does not verify gets no request: the error
// says so, nothing is acknowledged, and it is not retried.
func TestUntrustedCertificate(t *testing.T) {
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	localhost := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) // not in the test certificate
	for _, tt := range []struct {
		name string
		cfg  map[string]any
	}{
		{"unknown CA, no tls_ca_file", map[string]any{"url": srv.URL, "secret": testSecret}},
		{"unknown CA, another tls_ca_file", map[string]any{"url": srv.URL, "secret": testSecret, "tls_ca_file": otherCA(t)}},
		{"name not in the certificate", map[string]any{"url": localhost, "secret": testSecret, "tls_ca_file": ca}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			acked, err := serve(t, newExporter(), tt.cfg).Export(record("a"))
			if len(acked) != 0 || err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("acked %v, err %v; want nothing acked and an error about the certificate", acked, err)
			}
			if strings.Contains(err.Error(), "attempts") {
				t.Fatalf("a certificate error was retried: %v", err)
			}
			t.Logf("refused as: %v", err)
		})
	}
	if n := rv.Attempts(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// A server that offers only TLS 1.1 gets no request.
func TestRefusesOldTLS(t *testing.T) {
	rv := newReceiver(nil)
	srv := httptest.NewUnstartedServer(rv)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, srv.Certificate().Raw)
	acked, err := serve(t, fast(newExporter()), baseConfig(srv, ca)).Export(record("a"))
	if len(acked) != 0 || err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("acked %v, err %v; want nothing acked and a TLS version error", acked, err)
	}
	if n := rv.Attempts(); n != 0 {
		t.Fatalf("the receiver got %d requests over TLS 1.1", n)
	}
	t.Logf("refused as: %v", err)
}

// syncBuffer is a log sink the gRPC goroutines can write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// insecure_skip_verify delivers to an unverified server, and says loudly
// that it is insecure.
func TestInsecureSkipVerify(t *testing.T) {
	rv := newReceiver(nil)
	srv, _ := serveTLS(t, rv)
	var logged syncBuffer
	e := newExporter()
	e.log = slog.New(slog.NewTextHandler(&logged, nil))
	conn := serve(t, e, map[string]any{"url": srv.URL, "secret": testSecret, "insecure_skip_verify": true})
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "INSECURE") {
		t.Fatalf("no loud warning:\n%s", logged.String())
	}
	if acked, err := conn.Export(record("a")); err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
}

// allow_http permits a plain-HTTP receiver, e.g. on loopback.
func TestAllowHTTP(t *testing.T) {
	rv := newReceiver(nil)
	srv := httptest.NewServer(rv)
	t.Cleanup(srv.Close)
	conn := serve(t, newExporter(), map[string]any{"url": srv.URL, "secret": testSecret, "allow_http": true})
	if acked, err := conn.Export(record("a")); err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
}

// A record that cannot be marshalled (NaN is not JSON) is left out and not
// acknowledged; the rest are delivered.
func TestUnmarshallableRecord(t *testing.T) {
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	conn := serve(t, newExporter(), baseConfig(srv, ca))
	recs := records("a", "nan", "c")
	recs[1].Legs[0].MOS = math.NaN()
	acked, err := conn.Export(recs...)
	if err != nil || !slices.Equal(acked, []string{"a", "c"}) {
		t.Fatalf("acked %v, err %v; want [a c]", acked, err)
	}
	if got := rv.Stored(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("stored %v", got)
	}
	if _, err := conn.Export(recs[1]); err == nil || !strings.Contains(err.Error(), "marshal") {
		t.Fatalf("a batch of nothing deliverable: %v", err)
	}
	if n := rv.Attempts(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	missing := filepath.Join(dir, "missing.pem")
	ok := func(kv ...any) map[string]any {
		m := map[string]any{"url": "https://cdr.example.com/hook", "secret": testSecret}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for _, tt := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no url", ok("url", nil), `"url" is required`},
		{"empty url", ok("url", ""), `"url" is required`},
		{"no secret", ok("secret", nil), `"secret" is required`},
		{"empty secret", ok("secret", ""), `"secret" is required`},
		{"http without allow_http", ok("url", "http://cdr.example.com/hook"), "allow_http"},
		{"http with allow_http false", ok("url", "http://cdr.example.com/hook", "allow_http", false), "use https://"},
		{"other scheme", ok("url", "ftp://cdr.example.com/"), "use an https:// address"},
		{"no scheme", ok("url", "cdr.example.com/hook"), "use an https:// address"},
		{"no host", ok("url", "https:///hook"), "has no host"},
		{"unparsable url", ok("url", "https://cdr example.com/"), `"url"`},
		{"timeout zero", ok("timeout_ms", 0), `"timeout_ms" is 0`},
		{"timeout negative", ok("timeout_ms", -5), `"timeout_ms" is -5`},
		{"max_retries negative", ok("max_retries", -1), `"max_retries" is -1`},
		{"max_retries huge", ok("max_retries", 1000), `"max_retries" is 1000`},
		{"tls_ca_file missing", ok("tls_ca_file", missing), missing},
		{"tls_ca_file not PEM", ok("tls_ca_file", notPEM), "holds no PEM certificate"},
		{"ca file and insecure", ok("tls_ca_file", notPEM, "insecure_skip_verify", true), "contradict"},
		{"reserved header", ok("headers", map[string]string{"x-voxgate-signature": "v1=00"}), "X-Voxgate-Signature is set by the plugin"},
		{"content-type header", ok("headers", map[string]string{"content-type": "text/plain"}), "Content-Type is set by the plugin"},
		{"bad header name", ok("headers", map[string]string{"Bad Header": "x"}), `"Bad Header" is not a valid header name`},
		{"header value with a line break", ok("headers", map[string]string{"X-A": "x\r\nX-B: y"}), "control character"},
		{"misspelt key", ok("retries", 3), `unknown field "retries"`},
		{"secret not a string", ok("secret", 42), "secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := sdktest.InProcess(t, newExporter()).Configure(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// The secret never appears in an error.
	err := sdktest.InProcess(t, newExporter()).Configure(ok("url", "http://x", "secret", "s3cr3t-value"))
	if err == nil || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("err = %v", err)
	}
	// A password in the URL is not repeated.
	err = sdktest.InProcess(t, newExporter()).Configure(ok("url", "http://user:pa55word@x/"))
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Fatalf("err = %v", err)
	}
}

// A refused config keeps the receiver in use.
func TestConfigureErrorKeepsTarget(t *testing.T) {
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	conn := serve(t, newExporter(), baseConfig(srv, ca))
	if err := conn.Configure(map[string]any{"url": srv.URL}); err == nil {
		t.Fatal("config without a secret accepted")
	}
	if acked, err := conn.Export(record("a")); err != nil || !slices.Equal(acked, []string{"a"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
}

func TestExportBeforeConfigure(t *testing.T) {
	conn := sdktest.InProcess(t, newExporter())
	if _, err := conn.Export(record("a")); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("err = %v", err)
	}
}

// The signature matches what the README's openssl command gives:
// { printf '%s.' 1795600921; printf '{"schema_version":1,"records":[]}'; } | openssl dgst -sha256 -hmac k -hex
func TestSignatureKnownValue(t *testing.T) {
	got := signature([]byte("k"), "1795600921", []byte(`{"schema_version":1,"records":[]}`))
	if want := "v1=0e00dc04c8894bdbb04ebc9137a87109d65e5a1655223ecc46560bf440808e84"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"1", time.Second}, {" 120 ", 2 * time.Minute}, {"0", 0}, {"-3", 0}, {"soon", 0},
		{"99999999999999999", maxRetryAfterSeconds * time.Second},
		{"Wed, 25 Nov 2026 10:00:10 GMT", 10 * time.Second},
		{"Wed, 25 Nov 2026 09:59:00 GMT", 0},
	} {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// The built binary over a real go-plugin connection, against a real HTTPS
// receiver.
func TestBinary(t *testing.T) {
	bin := sdktest.Build(t, ".")
	rv := newReceiver(nil)
	srv, ca := serveTLS(t, rv)
	conn := sdktest.Binary(t, bin, sdk.KindExporter)
	if info := conn.Info(); info.GetName() != "cdr-webhook" || info.GetKind() != sdk.KindExporter {
		t.Fatalf("Info() = %v", info)
	}
	if err := conn.Configure(map[string]any{"url": srv.URL}); err == nil || !strings.Contains(err.Error(), `"secret" is required`) {
		t.Fatalf("config error over the wire: %v", err)
	}
	if err := conn.Configure(baseConfig(srv, ca)); err != nil {
		t.Fatal(err)
	}
	recs := records("a", "b")
	acked, err := conn.Export(recs...)
	if err != nil || !slices.Equal(acked, []string{"a", "b"}) {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	for _, r := range recs {
		if got := rv.Record(r.ID); !reflect.DeepEqual(got, r) {
			t.Errorf("stored %s = %+v", r.ID, got)
		}
	}
}
