#include "textflag.h"

// func pause()
// Executes PAUSE: a spin-wait hint. Clobbers nothing.
TEXT ·pause(SB),NOSPLIT|NOFRAME,$0-0
	PAUSE
	RET
