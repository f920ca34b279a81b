package match_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/sysfstest"
)

// Resolving a selector on a host with two identical sticks: each typed
// failure is opened with errors.As.
func ExampleResolve() {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)
	h.Plug(sysfstest.RootHub(1, "480"))
	stick := sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0781, IDProduct: 0x5581, Serial: new("K1")}
	h.Plug(stick)
	stick.Port, stick.Serial = "2", new("K2")
	h.Plug(stick)
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	res, err := discover.Scan(context.Background(), discover.Options{Root: h.Root(), Numeric: true})
	if err != nil {
		log.Fatal(err)
	}

	for _, s := range []string{"host:0781:5581,serial=K2", "host:0781:5581", "host:0781:5582", "host:0781:55811"} {
		sel, err := match.Parse(s)
		var (
			pe  *match.ParseError
			amb *match.AmbiguousError
			no  *match.NoMatchError
		)
		if errors.As(err, &pe) {
			fmt.Println("bad selector:", pe.Msg)
			continue
		}
		d, err := match.Resolve(sel, res.Devices)
		switch {
		case err == nil:
			fmt.Println(s, "is", d.Name)
		case errors.As(err, &amb):
			fmt.Println(len(amb.Candidates), "match; add", amb.Candidates[0].Pick, "or", amb.Candidates[1].Pick)
		case errors.As(err, &no):
			fmt.Println(no)
		}
	}
	// Output:
	// host:0781:5581,serial=K2 is 1-2
	// 2 match; add serial=K1 or serial=K2
	// no device matches 0781:5582; nearest: 1-1 (0781:5581) product is 5581, 1-2 (0781:5581) product is 5581
	// bad selector: product "55811" is not 4 hex digits in "host:0781:55811"
}
