//go:build e2e

package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baresipConfig is a headless baresip: audio from a wav file (the call ends
// at its end), played to nowhere, sent and received audio dumped as wav by
// the sndfile module.
const baresipConfig = `poll_method epoll
sip_listen 127.0.0.1:15074
net_interface 127.0.0.1
dns_server 127.0.0.1:53
audio_source aufile,/usr/share/baresip/callwaiting.wav
audio_player aubridge,nowhere
audio_alert aubridge,nowhere
ausrc_srate 8000
ausrc_channels 1
rtp_ports 15100-15199
rtp_stats yes
module_path /usr/lib/baresip/modules
module g711.so
module g722.so
module opus.so
module sndfile.so
module aufile.so
module aubridge.so
module_tmp uuid.so
module_tmp account.so
module_app menu.so
snd_path %s
statmode_default off
`

// baresip, a second independent SIP/RTP implementation, calls the daemon
// offering PCMU, PCMA, G.722 and Opus: voxgate answers with G.711, baresip
// hears its own audio back (the received wav is not silent), baresip hangs
// up at the end of its file, and the CDR says so.
func TestBaresipCallsEcho(t *testing.T) {
	need(t, "baresip")
	d := startDaemon(t, daemonOpts{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(fmt.Sprintf(baresipConfig, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	acct := "<sip:1013@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1,PCMA/8000/1,G722/16000/1,opus/48000/2\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "baresip", "-4", "-f", dir, "-t", "10",
		"-e", fmt.Sprintf("/dial sip:echo@127.0.0.1:%d", sipPort))
	cmd.Dir = dir
	cmd.Stdin = nil
	out, _ := cmd.CombinedOutput()
	log := string(out)

	r := d.records(1, 15*time.Second)[0]
	if r.Disposition != "answered" || r.HangupSide != "caller" {
		t.Fatalf("CDR %+v\nbaresip:\n%s", r.Raw, log)
	}
	// The test daemon prefers PCMA, PCMU; baresip offers PCMU first: our
	// preference decides.
	if r.Codec != "PCMA" {
		t.Fatalf("codec %q, want PCMA (the daemon's first preference)", r.Codec)
	}
	if r.PacketsIn < 150 || r.PacketsOut < 150 {
		t.Fatalf("RTP packets in/out %d/%d for a ~5 s call\nbaresip:\n%s", r.PacketsIn, r.PacketsOut, log)
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "dump-*-dec.wav"))
	if len(dumps) == 0 {
		t.Fatalf("baresip wrote no dump of the audio it received\nbaresip:\n%s", log)
	}
	rms := wavRMS(t, dumps[0])
	if rms < 100 {
		t.Fatalf("the audio baresip received back is silent (RMS %.0f)", rms)
	}
	t.Logf("baresip received its echo: RMS %.0f over %s", rms, filepath.Base(dumps[0]))
	if !strings.Contains(d.log(), "codec=PCMA") {
		t.Fatalf("daemon did not log the negotiated codec")
	}
}

// wavRMS is the RMS of a 16-bit PCM wav's samples.
func wavRMS(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := 12
	for i+8 <= len(b) {
		id, size := string(b[i:i+4]), int(binary.LittleEndian.Uint32(b[i+4:i+8]))
		if id == "data" {
			data := b[i+8 : min(len(b), i+8+size)]
			var sum float64
			n := len(data) / 2
			for k := 0; k < n; k++ {
				s := float64(int16(binary.LittleEndian.Uint16(data[2*k:])))
				sum += s * s
			}
			if n == 0 {
				return 0
			}
			return math.Sqrt(sum / float64(n))
		}
		i += 8 + size
	}
	t.Fatalf("%s has no data chunk", path)
	return 0
}
