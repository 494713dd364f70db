package sip

import (
	"net/netip"
	"testing"
)

func TestAllowedSource(t *testing.T) {
	s := &Server{}
	for _, a := range []string{"127.0.0.0/8", "::1", "192.0.2.10"} {
		p, err := parsePrefix(a)
		if err != nil {
			t.Fatal(err)
		}
		s.allowed = append(s.allowed, p)
	}
	cases := []struct {
		src  string
		want bool
	}{
		{"127.0.0.1:5060", true},
		{"127.9.9.9:1", true},
		{"[::1]:5060", true},
		{"192.0.2.10:5060", true},
		{"192.0.2.11:5060", false},
		{"[::ffff:127.0.0.1]:5060", true}, // v4-mapped source on a dual-stack socket
		{"10.0.0.1:5060", false},
		{"garbage", false},
		{"", false},
	}
	for _, c := range cases {
		if got := s.allowedSource(c.src); got != c.want {
			t.Errorf("allowedSource(%q) = %v, want %v", c.src, got, c.want)
		}
	}
}

func TestParsePrefixErrors(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "not-an-ip", "1.2.3.4/x"} {
		if _, err := parsePrefix(bad); err == nil {
			t.Errorf("parsePrefix(%q) accepted", bad)
		}
	}
	p, _ := parsePrefix("10.1.2.3/8")
	if p != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("prefix not masked: %v", p)
	}
}
