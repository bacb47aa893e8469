// Image operations on NHWC batches (WindowGeometry.swift): im2col, its transpose col2im, max
// pooling and its backward pass, and the NCHW <-> NHWC transpose. CPUKernels/image.c is the
// specification: every kernel here computes one output element the way the C loop does, and the
// backward passes are gathers that add their terms in the C's order, from 0.0f, so results are
// the CPU backend's bit for bit, and never depend on scheduling (no atomics). Indices are 32-bit
// ints: the host refuses buffers past INT_MAX elements. Global sizes are rounded up to the work
// group, so every kernel checks its ids against the sizes.
//
// The NHWC kernels run on a 2-D range, global: (⌈channels / span⌉, positions). Dimension 1 is the
// pixel (or window, or column row) and dimension 0 a run of `span` of its channels, which the work
// item loops over innermost, as the C does: the index splits and window bounds are computed once
// per run, and the channel loop runs over contiguous memory. A CPU driver vectorizes that loop; a
// GPU takes a run of 1, a work item per element, whose neighbours in dimension 0 touch neighbouring
// floats (OpenCLTuning.channelSpan). Every element gets the C's arithmetic in the C's order for
// any run length, so the span is an argument: the tests run several in one context. A run of one
// channel keeps its sums in registers (the branch is the same for the whole launch); longer runs
// sum in place in the output, which a CPU's caches hold.

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
// holds input(n, oy·S − P + ky, ox·S − P + kx, c), or 0 in the padding. rows = samples·OH·OW.
kernel void im2col(global const float* restrict input, global float* restrict columns, const int rows,
                   const int channels, const int height, const int width, const int kernel_size, const int stride,
                   const int padding, const int out_h, const int out_w, const int span) {
    const int c0 = get_global_id(0) * span, row = get_global_id(1);
    if (c0 >= channels || row >= rows) return;
    const int end = min(c0 + span, channels);
    SPLIT(row, out_w, rest, ox);
    SPLIT(rest, out_h, n, oy);
    const int window = kernel_size * kernel_size;
    global float* out = columns + row * channels * window;
    for (int ky = 0; ky < kernel_size; ++ky) {
        const int iy = oy * stride - padding + ky;
        for (int kx = 0; kx < kernel_size; ++kx) {
            const int ix = ox * stride - padding + kx;
            global float* column = out + ky * kernel_size + kx;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) {
                for (int c = c0; c < end; ++c) column[c * window] = 0.0f;
            } else {
                global const float* pixel = input + ((n * height + iy) * width + ix) * channels;
                for (int c = c0; c < end; ++c) column[c * window] = pixel[c];
            }
        }
    }
}

// columns: [samples·OH·OW, C·K·K] -> image: [samples, H, W, C], each element the sum over the
// windows (oy, ox) that contain it, oy then ox ascending, of the column entry im2col copied it
// to, from 0.0f. pixels = samples·H·W.
kernel void col2im(global const float* restrict columns, global float* restrict image, const int pixels,
                   const int channels, const int height, const int width, const int kernel_size, const int stride,
                   const int padding, const int out_h, const int out_w, const int span) {
    const int c0 = get_global_id(0) * span, pixel = get_global_id(1);
    if (c0 >= channels || pixel >= pixels) return;
    const int end = min(c0 + span, channels);
    SPLIT(pixel, width, rest, x);
    SPLIT(rest, height, n, y);
    const int2 ys = windows_containing(y, kernel_size, stride, padding, out_h);
    const int2 xs = windows_containing(x, kernel_size, stride, padding, out_w);
    const int window = kernel_size * kernel_size;
    const int patch = channels * window;
    global float* to = image + pixel * channels;
    if (span == 1) {
        float sum = 0.0f;
        for (int oy = ys.x; oy <= ys.y; ++oy) {
            const int ky = y + padding - oy * stride;
            for (int ox = xs.x; ox <= xs.y; ++ox) {
                const int kx = x + padding - ox * stride;
                sum += columns[((n * out_h + oy) * out_w + ox) * patch + c0 * window + ky * kernel_size + kx];
            }
        }
        to[c0] = sum;
        return;
    }
    for (int c = c0; c < end; ++c) to[c] = 0.0f;
    for (int oy = ys.x; oy <= ys.y; ++oy) {
        const int ky = y + padding - oy * stride;
        for (int ox = xs.x; ox <= xs.y; ++ox) {
            const int kx = x + padding - ox * stride;
            global const float* row = columns + ((n * out_h + oy) * out_w + ox) * patch + ky * kernel_size + kx;
            for (int c = c0; c < end; ++c) to[c] += row[c * window];
        }
    }
}

// input: [samples, H, W, C] -> output, argmax: [samples, OH, OW, C], no padding. PyTorch's rule:
// the window's first position to start, then any later value that is greater, or NaN, takes its
// place; argmax is the position y·W + x within the sample's image. positions = samples·OH·OW.
kernel void max_pool(global const float* restrict input, global float* restrict output, global int* restrict argmax,
                     const int positions, const int channels, const int height, const int width,
                     const int kernel_size, const int stride, const int out_h, const int out_w, const int span) {
    const int c0 = get_global_id(0) * span, position = get_global_id(1);
    if (c0 >= channels || position >= positions) return;
    const int end = min(c0 + span, channels);
    SPLIT(position, out_w, rest, x);
    SPLIT(rest, out_h, n, y);
    global const float* image = input + n * height * width * channels;
    global float* best = output + position * channels;
    global int* best_at = argmax + position * channels;
    const int first = (y * stride) * width + x * stride;
    if (span == 1) {
        float top = -INFINITY;
        int top_at = first;
        for (int ky = 0; ky < kernel_size; ++ky) {
            for (int kx = 0; kx < kernel_size; ++kx) {
                const int at = (y * stride + ky) * width + x * stride + kx;
                const float value = image[at * channels + c0];
                if (value > top || isnan(value)) {
                    top = value;
                    top_at = at;
                }
            }
        }
        best[c0] = top;
        best_at[c0] = top_at;
        return;
    }
    for (int c = c0; c < end; ++c) {
        best[c] = -INFINITY;
        best_at[c] = first;
    }
    for (int ky = 0; ky < kernel_size; ++ky) {
        for (int kx = 0; kx < kernel_size; ++kx) {
            const int at = (y * stride + ky) * width + x * stride + kx;
            global const float* pixel = image + at * channels;
            for (int c = c0; c < end; ++c) {
                const float value = pixel[c];
                const bool take = value > best[c] || isnan(value);
                best[c] = take ? value : best[c];
                best_at[c] = take ? at : best_at[c];
            }
        }
    }
}

// output_gradient, argmax: [samples, OH, OW, C] -> input_gradient: [samples, H, W, C], the sum over
// the windows that contain the element (oy then ox ascending) of the gradients of those whose
// maximum it was, from 0.0f; 0 elsewhere. pixels = samples·H·W.
kernel void max_pool_backward(global const float* restrict output_gradient, global const int* restrict argmax,
                              global float* restrict input_gradient, const int pixels, const int channels,
                              const int height, const int width, const int kernel_size, const int stride,
                              const int out_h, const int out_w, const int span) {
    const int c0 = get_global_id(0) * span, pixel = get_global_id(1);
    if (c0 >= channels || pixel >= pixels) return;
    const int end = min(c0 + span, channels);
    SPLIT(pixel, width, rest, x);
    SPLIT(rest, height, n, y);
    const int2 ys = windows_containing(y, kernel_size, stride, 0, out_h);
    const int2 xs = windows_containing(x, kernel_size, stride, 0, out_w);
    const int at = y * width + x;
    global float* to = input_gradient + pixel * channels;
    if (span == 1) {
        float sum = 0.0f;
        for (int oy = ys.x; oy <= ys.y; ++oy) {
            for (int ox = xs.x; ox <= xs.y; ++ox) {
                const int out = ((n * out_h + oy) * out_w + ox) * channels + c0;
                sum += argmax[out] == at ? output_gradient[out] : 0.0f;
            }
        }
        to[c0] = sum;
        return;
    }
    for (int c = c0; c < end; ++c) to[c] = 0.0f;
    for (int oy = ys.x; oy <= ys.y; ++oy) {
        for (int ox = xs.x; ox <= xs.y; ++ox) {
            const int out = ((n * out_h + oy) * out_w + ox) * channels;
            for (int c = c0; c < end; ++c) to[c] += argmax[out + c] == at ? output_gradient[out + c] : 0.0f;
        }
    }
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
