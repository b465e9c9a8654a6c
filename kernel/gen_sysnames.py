#!/usr/bin/env python3
"""Regenerates sysnames.go from the host's <asm/unistd_64.h>."""
import re
names = {}
for line in open('/usr/include/x86_64-linux-gnu/asm/unistd_64.h'):
    m = re.match(r'#define __NR_(\w+)\s+(\d+)', line)
    if m:
        names[int(m.group(2))] = m.group(1)
out = ['// Code generated from <asm/unistd_64.h> by gen_sysnames.py; DO NOT EDIT.', '', 'package kernel', '',
       '// syscallNames maps Linux x86-64 system call numbers to names.', 'var syscallNames = [...]string{']
for n in sorted(names):
    out.append('\t%d: "%s",' % (n, names[n]))
out.append('}')
out.append('''
// syscallName returns the name of system call nr.
//
//go:nosplit
func syscallName(nr uint64) string {
	if nr < uint64(len(syscallNames)) && syscallNames[nr] != "" {
		return syscallNames[nr]
	}
	return "unknown"
}''')
open('sysnames.go', 'w').write('\n'.join(out) + '\n')
