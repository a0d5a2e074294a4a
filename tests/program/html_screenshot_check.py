"""Reads the screenshot of `gpudoctor run --html`'s page (html_in_chromium.sh) and checks that it
shows what the run was: three plots (GPU 0, GPU 1, CPU), found by their background (#fafafa);
in GPU 0's, the program's utilization (#1565c0) high (85%) in the first half and low (20%) in the
second; in GPU 1's, no utilization above the bottom fifth; a log mark (#c62828) crossing GPU 0's
plot half-way; the CPU line (#2e7d32) raised off 0% in the third (a child spun on the CPU). Exit 1 naming what is wrong."""
import sys

from png_pixels import read_png

BACKGROUND = (250, 250, 250)
PROGRAM = (0x15, 0x65, 0xC0)
LOG_ERROR = (0xC6, 0x28, 0x28)
CPU = (0x2E, 0x7D, 0x32)


def near(pixel, colour, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def plots(rows):
    """The plot areas, as (top, bottom, left, right): bands of rows holding a wide run of the
    plot background, where a line drawn across the whole plot (a 2-pixel row of colour) does not
    split a band."""
    wide = [sum(1 for p in row if p == BACKGROUND) >= 300 for row in rows]
    for y in range(len(wide)):
        if not wide[y] and any(wide[max(0, y - 4):y]) and any(wide[y + 1:y + 5]):
            wide[y] = True
    bands, start = [], None
    for y, w in enumerate(wide + [False]):
        if w and start is None:
            start = y
        elif not w and start is not None:
            if y - start >= 40:
                fullest = max(rows[start:y], key=lambda row: sum(1 for p in row if p == BACKGROUND))
                xs = [x for x, p in enumerate(fullest) if p == BACKGROUND]
                bands.append((start, y - 1, min(xs), max(xs)))
            start = None
    return bands


def points(rows, band, colour):
    top, bottom, left, right = band
    return [(x, y) for y in range(top, bottom + 1) for x in range(left, right + 1) if near(rows[y][x], colour)]


def main(path):
    rows = read_png(path)
    problems = []
    bands = plots(rows)
    if len(bands) != 3:
        print(f"expected 3 plots (two GPUs and the CPU), found {len(bands)}: {bands}")
        return 1
    gpu0, gpu1, cpu = bands
    top, bottom, left, right = gpu0
    height, width = bottom - top, right - left
    line = points(rows, gpu0, PROGRAM)
    first = [y for x, y in line if x < left + 0.4 * width]
    second = [y for x, y in line if x > left + 0.6 * width]
    # The median: the line's first reading may start from 0% and its step down is a slope.
    depth = lambda ys: (sorted(ys)[len(ys) // 2] - top) / height if ys else None
    if not first or not (depth(first) < 0.3):
        problems.append(f"GPU 0: the program's utilization in the first half is not near 85% (depth {depth(first)})")
    if not second or not (0.6 < depth(second) < 0.9):
        problems.append(f"GPU 0: the program's utilization in the second half is not near 20% (depth {depth(second)})")
    high1 = [y for x, y in points(rows, gpu1, PROGRAM) if (y - gpu1[0]) / (gpu1[1] - gpu1[0]) < 0.8]
    if high1:
        problems.append(f"GPU 1 was not used, yet its plot has {len(high1)} utilization pixels above the bottom fifth")
    marks = {}
    for x, y in points(rows, gpu0, LOG_ERROR):
        marks[x] = marks.get(x, 0) + 1
    crossing = [x for x, n in marks.items() if n >= 0.8 * height]
    if not crossing or not all(0.35 < (x - left) / width < 0.65 for x in crossing):
        problems.append(f"GPU 0: no log mark crossing the plot half-way (columns {sorted(crossing)[:6]}, plot {left}-{right})")
    # Above the bottom 7% (the 0% line lies on the border): a spinning child gets a share of a
    # core that depends on the machine's load, never none.
    raised = [y for x, y in points(rows, cpu, CPU) if (y - cpu[0]) / (cpu[1] - cpu[0]) < 0.93]
    if len(raised) < 20:
        problems.append("the CPU plot shows no CPU use (a child spun for 1.4 s)")
    for p in problems:
        print(p)
    if not problems:
        print(f"screenshot as expected: plots {bands}, GPU 0 depth {depth(first):.2f} then {depth(second):.2f}, log mark at "
              f"{(crossing[0] - left) / width:.2f} of the run")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
