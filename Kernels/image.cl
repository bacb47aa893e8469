// Image operations on NHWC batches (WindowGeometry.swift): im2col, its transpose col2im, max
// pooling and its backward pass, and the NCHW <-> NHWC transpose. CPUKernels/image.c is the
// specification: every kernel here computes one output element the way the C loop does, and the
// backward passes are gathers that add their terms in the C's order, from 0.0f, so results are
// the CPU backend's bit for bit, and never depend on scheduling (no atomics). Indices are 32-bit
// ints: the host refuses buffers past INT_MAX elements. Global sizes are rounded up to the work
// group, so every kernel checks its id against the element count. One work item per output
// element, global: (count).
//
// An index splits into coordinates as q = a / b and r = a − q·b, written out: LLVM pairs a `/`
// and a `%` of the same operands and, on targets without a joint instruction (SPIR, as Oclgrind
// compiles it), rewrites the `%` with a `freeze` of the dividend, which Oclgrind cannot run.
#define SPLIT(a, b, q, r) const int q = (a) / (b), r = (a) - q * (b)

// The first and last window start o with o·stride − padding + k = i for some k in [0, kernel),
// clamped to [0, outputs): the windows that contain input position i (windows_containing in the C).
inline int2 windows_containing(const int i, const int kernel_size, const int stride, const int padding,
                               const int outputs) {
    const int shifted = i + padding;  // position in the padded input
    int lo = shifted - kernel_size + 1;
    lo = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    int hi = shifted / stride;
    if (hi > outputs - 1) hi = outputs - 1;
    return (int2)(lo, hi);
}

// input: [samples, H, W, C] -> columns: [samples·OH·OW, C·K·K]; row (n, oy, ox), column (c, ky, kx)
// holds input(n, oy·S − P + ky, ox·S − P + kx, c), or 0 in the padding. One work item per (row, c)
// writes that channel's K·K entries, which are contiguous: three index splits per K·K values
// instead of five per value. count = rows · C.
kernel void im2col(global const float* input, global float* columns, const int count, const int channels,
                   const int height, const int width, const int kernel_size, const int stride, const int padding,
                   const int out_h, const int out_w) {
    const int i = get_global_id(0);
    if (i >= count) return;
    SPLIT(i, channels, row, c);
    SPLIT(row, out_w, rest, ox);
    SPLIT(rest, out_h, n, oy);
    global float* out = columns + i * kernel_size * kernel_size;  // (row·C + c)·K·K
    const int x0 = ox * stride - padding;
    for (int ky = 0; ky < kernel_size; ++ky) {
        const int iy = oy * stride - padding + ky;
        if (iy < 0 || iy >= height) {
            for (int kx = 0; kx < kernel_size; ++kx) out[ky * kernel_size + kx] = 0.0f;
            continue;
        }
        global const float* line = input + (n * height + iy) * width * channels + c;
        for (int kx = 0; kx < kernel_size; ++kx) {
            const int ix = x0 + kx;
            out[ky * kernel_size + kx] = (ix >= 0 && ix < width) ? line[ix * channels] : 0.0f;
        }
    }
}

// columns: [samples·OH·OW, C·K·K] -> image: [samples, H, W, C], each element the sum over the
// windows (oy, ox) that contain it, oy then ox ascending, of the column entry im2col copied it
// to. count = samples·H·W·C.
kernel void col2im(global const float* columns, global float* image, const int count, const int channels,
                   const int height, const int width, const int kernel_size, const int stride, const int padding,
                   const int out_h, const int out_w) {
    const int i = get_global_id(0);
    if (i >= count) return;
    SPLIT(i, channels, pixel, c);
    SPLIT(pixel, width, rest, x);
    SPLIT(rest, height, n, y);
    const int2 ys = windows_containing(y, kernel_size, stride, padding, out_h);
    const int2 xs = windows_containing(x, kernel_size, stride, padding, out_w);
    const int window = kernel_size * kernel_size;
    const int patch = channels * window;
    float sum = 0.0f;
    for (int oy = ys.x; oy <= ys.y; ++oy) {
        const int ky = y + padding - oy * stride;
        for (int ox = xs.x; ox <= xs.y; ++ox) {
            const int kx = x + padding - ox * stride;
            sum += columns[((n * out_h + oy) * out_w + ox) * patch + c * window + ky * kernel_size + kx];
        }
    }
    image[i] = sum;
}

// input: [samples, H, W, C] -> output, argmax: [samples, OH, OW, C], no padding. PyTorch's rule:
// the window's first position to start, then any later value that is greater, or NaN, takes its
// place; argmax is the position y·W + x within the sample's image. count = samples·OH·OW·C.
kernel void max_pool(global const float* input, global float* output, global int* argmax, const int count,
                     const int channels, const int height, const int width, const int kernel_size, const int stride,
                     const int out_h, const int out_w) {
    const int i = get_global_id(0);
    if (i >= count) return;
    SPLIT(i, channels, position, c);
    SPLIT(position, out_w, rest, x);
    SPLIT(rest, out_h, n, y);
    global const float* image = input + n * height * width * channels;
    float best = -INFINITY;
    int best_at = (y * stride) * width + x * stride;
    for (int ky = 0; ky < kernel_size; ++ky) {
        for (int kx = 0; kx < kernel_size; ++kx) {
            const int at = (y * stride + ky) * width + x * stride + kx;
            const float value = image[at * channels + c];
            if (value > best || isnan(value)) {
                best = value;
                best_at = at;
            }
        }
    }
    output[i] = best;
    argmax[i] = best_at;
}

// output_gradient, argmax: [samples, OH, OW, C] -> input_gradient: [samples, H, W, C], the sum over
// the windows that contain the element (oy then ox ascending) of the gradients of those whose
// maximum it was; 0 elsewhere. count = samples·H·W·C.
kernel void max_pool_backward(global const float* output_gradient, global const int* argmax,
                              global float* input_gradient, const int count, const int channels, const int height,
                              const int width, const int kernel_size, const int stride, const int out_h,
                              const int out_w) {
    const int i = get_global_id(0);
    if (i >= count) return;
    SPLIT(i, channels, pixel, c);
    SPLIT(pixel, width, rest, x);
    SPLIT(rest, height, n, y);
    const int2 ys = windows_containing(y, kernel_size, stride, 0, out_h);
    const int2 xs = windows_containing(x, kernel_size, stride, 0, out_w);
    const int at = y * width + x;
    float sum = 0.0f;
    for (int oy = ys.x; oy <= ys.y; ++oy) {
        for (int ox = xs.x; ox <= xs.y; ++ox) {
            const int out = ((n * out_h + oy) * out_w + ox) * channels + c;
            if (argmax[out] == at) sum += output_gradient[out];
        }
    }
    input_gradient[i] = sum;
}

// x: [samples, rows, columns] -> y: [samples, columns, rows], each sample's matrix transposed; one
// work item per element of y. count = samples·rows·columns.
kernel void transpose_samples(global const float* x, global float* y, const int count, const int rows,
                              const int columns) {
    const int i = get_global_id(0);
    if (i >= count) return;
    SPLIT(i, rows, rest, r);
    SPLIT(rest, columns, n, c);
    y[i] = x[(n * rows + r) * columns + c];
}
