package execsample_test

// The kernel linked into the test binary, so that unigo exec can boot it;
// natively it does nothing.
import _ "github.com/unigo-os/unigo/kernel"
