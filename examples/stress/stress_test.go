package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The parts run here at a small scale; the full-size run is the "stress"
// scenario of the end-to-end tests in tests/.
const testScale = 0.01

func TestParts(t *testing.T) {
	for _, p := range parts {
		t.Run(p.name, func(t *testing.T) {
			require.NoError(t, p.run(testScale))
		})
	}
}

func TestSelectParts(t *testing.T) {
	all, err := selectParts(nil)
	require.NoError(t, err)
	require.Len(t, all, len(parts))

	some, err := selectParts([]string{"sync", "heap"})
	require.NoError(t, err)
	require.Equal(t, "sync", some[0].name)
	require.Equal(t, "heap", some[1].name)

	_, err = selectParts([]string{"nope"})
	require.ErrorContains(t, err, `unknown part "nope"`)
}

func TestScaleFromEnv(t *testing.T) {
	t.Setenv("STRESS_SCALE", "")
	s, err := scaleFromEnv()
	require.NoError(t, err)
	require.Equal(t, 1.0, s)

	t.Setenv("STRESS_SCALE", "0.5")
	s, err = scaleFromEnv()
	require.NoError(t, err)
	require.Equal(t, 0.5, s)

	for _, bad := range []string{"0", "-1", "2", "x"} {
		t.Setenv("STRESS_SCALE", bad)
		_, err = scaleFromEnv()
		require.Error(t, err, bad)
	}
}
