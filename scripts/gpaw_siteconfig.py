# GPAW build configuration used by ./run.sh (serial build against Debian's libxc, OpenBLAS, FFTW).
# An MPI build (mpi = True, compiler = 'mpicxx') is ~1.9x faster on 2 cores but GPAW 26.7 crashes in
# get_pseudo_wave_function under MPI, which the band-edge jobs need; keep the serial build here.
mpi = False
compiler = 'g++'
libraries = ['xc', 'openblas', 'fftw3']
fftw = True
