// Package execsample is the package the end-to-end tests run with
// go test -exec 'unigo exec' (tests/unigotest_test.go): its tests link the
// kernel through unigo_test.go, as go test -exec needs.
package execsample

// Double is what the tests check.
func Double(n int) int { return 2 * n }
