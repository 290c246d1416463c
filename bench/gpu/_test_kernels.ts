/**
 * Test helper: a tiny kernel for the tests of the CUDA bindings and target,
 * as PTX (the fake driver knows it by name and does what it does).
 *
 * @module
 */

/** `fill_u32(unsigned int *out, unsigned int value, unsigned int n)`, from nvcc -ptx -arch=compute_75. */
export const FILL_U32_PTX = `//
// fill_u32: out[i] = value for i < n (nvcc 13.0 -ptx -arch=compute_75, ISA version lowered to 7.0)
.version 7.0
.target sm_75
.address_size 64

.visible .entry fill_u32(
	.param .u64 fill_u32_param_0,
	.param .u32 fill_u32_param_1,
	.param .u32 fill_u32_param_2
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<7>;
	.reg .b64 	%rd<5>;

	ld.param.u64 	%rd1, [fill_u32_param_0];
	ld.param.u32 	%r2, [fill_u32_param_1];
	ld.param.u32 	%r3, [fill_u32_param_2];
	mov.u32 	%r4, %ctaid.x;
	mov.u32 	%r5, %ntid.x;
	mov.u32 	%r6, %tid.x;
	mad.lo.s32 	%r1, %r4, %r5, %r6;
	setp.ge.u32 	%p1, %r1, %r3;
	@%p1 bra 	$L__BB0_2;

	cvta.to.global.u64 	%rd2, %rd1;
	mul.wide.u32 	%rd3, %r1, 4;
	add.s64 	%rd4, %rd2, %rd3;
	st.global.u32 	[%rd4], %r2;

$L__BB0_2:
	ret;
}
`;
