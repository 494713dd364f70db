// Command cdr-webhook is a voxgate CDR exporter plugin that POSTs each batch
// of call records as signed JSON to an HTTPS endpoint. See README.md.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "1.0.0"

// payloadSchemaVersion is the version of the request body's envelope.
const payloadSchemaVersion = 1

// The headers that carry the signature.
const (
	headerTimestamp = "X-Voxgate-Timestamp"
	headerSignature = "X-Voxgate-Signature"
)

const (
	defaultTimeoutMS  = 10_000
	maxTimeoutMS      = 600_000
	defaultMaxRetries = 5
	maxMaxRetries     = 100
	// minSecretBytes is the shortest secret accepted without a warning.
	minSecretBytes = 16
)

// config is the plugin's table from voxgate.toml.
type config struct {
	URL                string            `json:"url"`
	Secret             string            `json:"secret"`
	TimeoutMS          int               `json:"timeout_ms"`
	MaxRetries         int               `json:"max_retries"`
	TLSCAFile          string            `json:"tls_ca_file"`
	InsecureSkipVerify bool              `json:"insecure_skip_verify"`
	Headers            map[string]string `json:"headers"`
	AllowHTTP          bool              `json:"allow_http"`
}

// target is a checked config with its HTTP client. Configure swaps it whole;
// an Export in flight keeps the one it started with.
type target struct {
	url        string // as configured
	logURL     string // scheme, host and path only: no password or query in logs
	secret     []byte
	timeout    time.Duration // per attempt
	maxRetries int
	headers    http.Header // the extra static headers
	client     *http.Client
}

type exporter struct {
	mu     sync.Mutex
	target *target

	log *slog.Logger
	// marshal is json.Marshal; a record it refuses is not sent and not acked.
	marshal func(any) ([]byte, error)
	// now gives the signature's timestamp.
	now func() time.Time
	// The retry delays: exponential from firstBackoff up to maxBackoff, with
	// jitter; a Retry-After is honoured up to maxRetryAfter. Tests shorten
	// them.
	firstBackoff  time.Duration
	maxBackoff    time.Duration
	maxRetryAfter time.Duration
}

func newExporter() *exporter {
	return &exporter{
		log:           sdk.Log,
		marshal:       json.Marshal,
		now:           time.Now,
		firstBackoff:  250 * time.Millisecond,
		maxBackoff:    8 * time.Second,
		maxRetryAfter: 30 * time.Second,
	}
}

func (e *exporter) Info() sdk.Info { return sdk.Info{Name: "cdr-webhook", Version: version} }

// Configure checks the config and builds the HTTP client. It does not
// contact the receiver: a receiver that is down must not stop the daemon
// from starting. On an error the target in use, if any, stays in use.
func (e *exporter) Configure(_ context.Context, cfg sdk.Config) error {
	c := config{TimeoutMS: defaultTimeoutMS, MaxRetries: defaultMaxRetries}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	t, err := c.target()
	if err != nil {
		return err
	}
	e.mu.Lock()
	old := e.target
	e.target = t
	e.mu.Unlock()
	if old != nil {
		old.client.CloseIdleConnections()
	}

	headerNames := slices.Sorted(maps.Keys(t.headers)) // names only: values may be credentials
	e.log.Info("cdr-webhook configured", "url", t.logURL, "timeout_ms", c.TimeoutMS,
		"max_retries", c.MaxRetries, "tls_ca_file", c.TLSCAFile, "headers", headerNames)
	if c.InsecureSkipVerify {
		e.log.Warn("cdr-webhook: INSECURE: insecure_skip_verify = true turns TLS certificate verification OFF. " +
			"Anyone on the network path can pose as the receiver and read every call record (numbers, times). " +
			"Give a private CA with tls_ca_file instead, and remove insecure_skip_verify.")
	}
	if len(c.Secret) < minSecretBytes {
		e.log.Warn("cdr-webhook: the secret is short; use at least 32 random bytes, e.g. `openssl rand -hex 32`",
			"secret_bytes", len(c.Secret))
	}
	return nil
}

// target checks the config and builds the client.
func (c config) target() (*target, error) {
	if c.URL == "" {
		return nil, errors.New(`"url" is required: the https:// address to POST records to`)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf(`"url" cannot be parsed: %v`, unwrapURLError(err)) // not quoted: it may hold a password
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.AllowHTTP {
			return nil, fmt.Errorf(`"url" %q is http://: records and their signatures would cross the network in clear text; `+
				`use https://, or set allow_http = true for tests or a receiver on loopback`, u.Redacted())
		}
	default:
		return nil, fmt.Errorf(`"url" %q: use an https:// address`, u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf(`"url" %q has no host`, u.Redacted())
	}
	if c.Secret == "" {
		return nil, errors.New(`"secret" is required: the HMAC-SHA256 key the receiver checks X-Voxgate-Signature with; ` +
			"share it with the receiver, e.g. from `openssl rand -hex 32`")
	}
	if c.TimeoutMS < 1 || c.TimeoutMS > maxTimeoutMS {
		return nil, fmt.Errorf(`"timeout_ms" is %d: use 1-%d (milliseconds per attempt; default %d)`, c.TimeoutMS, maxTimeoutMS, defaultTimeoutMS)
	}
	if c.MaxRetries < 0 || c.MaxRetries > maxMaxRetries {
		return nil, fmt.Errorf(`"max_retries" is %d: use 0-%d (default %d)`, c.MaxRetries, maxMaxRetries, defaultMaxRetries)
	}
	if c.InsecureSkipVerify && c.TLSCAFile != "" {
		return nil, errors.New(`"tls_ca_file" and "insecure_skip_verify" contradict each other: ` +
			"with the CA file, certificates can be verified; remove insecure_skip_verify")
	}
	headers, err := checkHeaders(c.Headers)
	if err != nil {
		return nil, err
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.TLSCAFile != "" {
		if tlsConfig.RootCAs, err = certPool(c.TLSCAFile); err != nil {
			return nil, err
		}
	}
	return &target{
		url:        c.URL,
		logURL:     (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		secret:     []byte(c.Secret),
		timeout:    time.Duration(c.TimeoutMS) * time.Millisecond,
		maxRetries: c.MaxRetries,
		headers:    headers,
		client:     newClient(tlsConfig),
	}, nil
}

// newClient is an HTTP client over its own transport: TLS 1.2 or later, the
// proxy of HTTPS_PROXY/NO_PROXY when the plugin's env sets one, and no
// redirects (following one would turn the POST into a GET whose 200 would
// acknowledge records that were never delivered).
func newClient(tlsConfig *tls.Config) *http.Client {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second, // the attempt's timeout usually ends it first
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    10 * time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           2,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// certPool is the system's roots plus the certificates of a PEM file.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf(`"tls_ca_file": %w`, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf(`"tls_ca_file" %q holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, file)
	}
	return pool, nil
}

// reservedHeaders are set by the plugin; "headers" cannot override them.
var reservedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Host", "Connection",
	headerTimestamp, headerSignature,
}

// checkHeaders validates the extra static headers.
func checkHeaders(in map[string]string) (http.Header, error) {
	out := make(http.Header, len(in))
	for name, value := range in {
		if !validHeaderName(name) {
			return nil, fmt.Errorf(`"headers": %q is not a valid header name`, name)
		}
		canon := http.CanonicalHeaderKey(name)
		if slices.Contains(reservedHeaders, canon) {
			return nil, fmt.Errorf(`"headers": %s is set by the plugin and cannot be overridden`, canon)
		}
		if strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
			return nil, fmt.Errorf(`"headers": the value of %s holds a control character (a line break?)`, canon)
		}
		out[canon] = []string{value}
	}
	return out, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the whole
// URL (query included).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Export POSTs the batch, retrying as README.md describes, and acknowledges
// every record in it on a 2xx. A record that cannot be marshalled is logged,
// left out and not acknowledged.
func (e *exporter) Export(ctx context.Context, recs []*sdk.CallRecord) ([]string, error) {
	e.mu.Lock()
	t := e.target
	e.mu.Unlock()
	if t == nil {
		return nil, errors.New("cdr-webhook is not configured")
	}
	if len(recs) == 0 {
		return nil, nil
	}
	body, ids := e.payload(recs)
	if len(ids) == 0 {
		return nil, fmt.Errorf("none of the %d records could be marshalled", len(recs))
	}
	if err := e.deliver(ctx, t, body); err != nil {
		return nil, fmt.Errorf("cdr-webhook: %s not delivered: %w", countRecords(len(ids)), err)
	}
	return ids, nil
}

func countRecords(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}

// payload is the request body, {"schema_version":1,"records":[...]}, and
// the ids of the records in it.
func (e *exporter) payload(recs []*sdk.CallRecord) ([]byte, []string) {
	var buf bytes.Buffer
	buf.WriteString(`{"schema_version":` + strconv.Itoa(payloadSchemaVersion) + `,"records":[`)
	var ids []string
	for i, r := range recs {
		if r == nil {
			e.log.Error("cdr-webhook: empty record in batch, not acknowledged", "index", i)
			continue
		}
		b, err := e.marshal(r)
		if err != nil {
			e.log.Error("cdr-webhook: cannot marshal record, not acknowledged", "id", r.ID, "err", err)
			continue
		}
		if len(ids) > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
		ids = append(ids, r.ID)
	}
	buf.WriteString("]}")
	return buf.Bytes(), ids
}

func main() { sdk.ServeExporter(newExporter()) }
