package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const (
	// excerptBytes is how much of an error response's body goes into the
	// error message.
	excerptBytes = 200
	// drainBytes is how much more of a response is read so that the
	// connection can be reused; a longer body closes it.
	drainBytes = 64 << 10
	// maxRetryAfterSeconds bounds a Retry-After before the cap applies, so
	// that a huge value cannot overflow a time.Duration.
	maxRetryAfterSeconds = 86_400
)

// signature is the value of X-Voxgate-Signature: "v1=" and the hex
// HMAC-SHA256, keyed with the secret, of "<timestamp>.<body>".
func signature(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// outcome is the result of one attempt.
type outcome struct {
	err        error         // nil: delivered
	retry      bool          // the error is worth another attempt
	retryAfter time.Duration // the receiver's Retry-After, 0 without one
}

// deliver POSTs body until the receiver answers 2xx, an error is not worth
// retrying, max_retries retries have failed, or ctx ends. It never waits
// past ctx's deadline: when the next attempt could not start before it, it
// gives up at once, and the daemon retries the batch later.
func (e *exporter) deliver(ctx context.Context, t *target, body []byte) error {
	backoff := e.firstBackoff
	for attempt := 1; ; attempt++ {
		out := e.attempt(ctx, t, body)
		if out.err == nil {
			if attempt > 1 {
				e.log.Info("cdr-webhook: delivered after retrying", "url", t.logURL, "attempts", attempt)
			}
			return nil
		}
		if !out.retry {
			return out.err
		}
		if attempt > t.maxRetries {
			return fmt.Errorf("gave up after %d attempts (max_retries = %d): %w", attempt, t.maxRetries, out.err)
		}
		wait := jitter(backoff)
		backoff = min(2*backoff, e.maxBackoff)
		if out.retryAfter > 0 {
			wait = min(out.retryAfter, e.maxRetryAfter)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return fmt.Errorf("gave up after %d attempts: the next one, in %v, would start after the export deadline: %w",
				attempt, wait.Round(time.Millisecond), out.err)
		}
		e.log.Warn("cdr-webhook: attempt failed; retrying", "url", t.logURL, "attempt", attempt,
			"retry_in", wait.Round(time.Millisecond).String(), "err", out.err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w while waiting to retry after: %v", ctx.Err(), out.err)
		case <-timer.C:
		}
	}
}

// jitter spreads d over [d/2, d], so that exporters of many appliances do not
// retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// attempt makes one signed POST, bounded by timeout_ms.
func (e *exporter) attempt(ctx context.Context, t *target, body []byte) outcome {
	actx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: fmt.Errorf("POST %s: %v", t.logURL, unwrapURLError(err))}
	}
	req.Header = t.headers.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "voxgate-cdr-webhook/"+version)
	}
	// Signed afresh on every attempt, so that a retry is not refused as old.
	timestamp := strconv.FormatInt(e.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerTimestamp, timestamp)
	req.Header.Set(headerSignature, signature(t.secret, timestamp, body))

	resp, err := t.client.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		switch {
		case ctx.Err() != nil:
			return outcome{err: fmt.Errorf("POST %s: %w", t.logURL, ctx.Err())}
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			return outcome{err: fmt.Errorf("POST %s: no answer within timeout_ms (%v)", t.logURL, t.timeout), retry: true}
		case certificateError(err):
			hint := "the receiver's TLS certificate is not trusted; for a private CA, give its certificate in tls_ca_file"
			if hostnameError(err) {
				hint = "the receiver's TLS certificate is not for the host in url; use a name the certificate holds"
			}
			return outcome{err: fmt.Errorf("POST %s: %v (%s)", t.logURL, err, hint)}
		default:
			return outcome{err: fmt.Errorf("POST %s: %v", t.logURL, err), retry: true}
		}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))

	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return outcome{}
	}
	err = fmt.Errorf("POST %s: status %d %s%s", t.logURL, code, http.StatusText(code), excerpt(head))
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return outcome{err: err, retry: true, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), e.now())}
	case code >= 300 && code <= 399:
		return outcome{err: fmt.Errorf("%w (redirects are not followed: set url to the final address, %q)",
			err, resp.Header.Get("Location"))}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return outcome{err: fmt.Errorf("%w (not retried: check that secret is the receiver's, "+
			"and that this host's clock is right: receivers refuse old timestamps)", err)}
	default:
		return outcome{err: fmt.Errorf("%w (not retried: the receiver refuses the batch; "+
			"the daemon offers it again later, but this needs the receiver or the config fixed)", err)}
	}
}

// certificateError reports whether err is the server's certificate failing
// verification: retrying cannot help.
func certificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid)
}

func hostnameError(err error) bool {
	var host x509.HostnameError
	return errors.As(err, &host)
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an HTTP date.
// It returns 0 when there is none or it is not in the future.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return min(d, maxRetryAfterSeconds*time.Second)
		}
	}
	return 0
}

// excerpt is ": " and the start of a response body, quoted and on one line,
// or "" for an empty body.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if len(b) == excerptBytes {
		s += "…"
	}
	return ": " + strconv.Quote(s)
}
