//! The little linear algebra the homography needs: 3×3 products and inverses, and a symmetric
//! eigen solver (cyclic Jacobi) for the 9×9 normal matrix of the DLT.

pub(crate) type Mat3 = [[f64; 3]; 3];

pub(crate) fn mul3(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut c = [[0.0; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

pub(crate) fn det3(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// The adjugate: `m · adj(m) = det(m) · I`. For a homography (defined up to scale) it serves as
/// the inverse without dividing by a possibly tiny determinant.
pub(crate) fn adjugate3(m: &Mat3) -> Mat3 {
    let c = |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    [
        [c(1, 2, 1, 2), -c(0, 2, 1, 2), c(0, 1, 1, 2)],
        [-c(1, 2, 0, 2), c(0, 2, 0, 2), -c(0, 1, 0, 2)],
        [c(1, 2, 0, 1), -c(0, 2, 0, 1), c(0, 1, 0, 1)],
    ]
}

pub(crate) fn frobenius3(m: &Mat3) -> f64 {
    m.iter().flatten().map(|v| v * v).sum::<f64>().sqrt()
}

/// Eigen decomposition of a symmetric matrix by cyclic Jacobi rotations.
///
/// Returns the eigenvalues in ascending order and the matching eigenvectors as the *rows* of
/// the second value (unit length). Jacobi is slow for big matrices but exact to rounding for
/// small ones, and it needs no pivoting decisions: for a 9×9 normal matrix a handful of sweeps
/// reach machine precision.
pub(crate) fn symmetric_eigen<const N: usize>(mut a: [[f64; N]; N]) -> ([f64; N], [[f64; N]; N]) {
    let mut v = [[0.0; N]; N];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    if scale > 0.0 && scale.is_finite() {
        for _sweep in 0..100 {
            let off: f64 = (0..N).flat_map(|i| (0..N).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| a[i][j] * a[i][j])
                .sum::<f64>()
                .sqrt();
            if off <= scale * 1e-17 {
                break;
            }
            for p in 0..N {
                for q in p + 1..N {
                    let apq = a[p][q];
                    if apq == 0.0 {
                        continue;
                    }
                    // Rotation angle that zeroes a[p][q] (Golub & Van Loan, sym.schur2).
                    let theta = (a[q][q] - a[p][p]) / (2.0 * apq);
                    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                    let t = if theta == 0.0 { 1.0 } else { t };
                    let c = 1.0 / (t * t + 1.0).sqrt();
                    let s = t * c;
                    for row in a.iter_mut() {
                        let (akp, akq) = (row[p], row[q]);
                        row[p] = c * akp - s * akq;
                        row[q] = s * akp + c * akq;
                    }
                    let (upper, lower) = a.split_at_mut(q);
                    for (apk, aqk) in upper[p].iter_mut().zip(lower[0].iter_mut()) {
                        let (x, y) = (*apk, *aqk);
                        *apk = c * x - s * y;
                        *aqk = s * x + c * y;
                    }
                    for row in v.iter_mut() {
                        let (vp, vq) = (row[p], row[q]);
                        row[p] = c * vp - s * vq;
                        row[q] = s * vp + c * vq;
                    }
                }
            }
        }
    }
    // Columns of `v` are the eigenvectors; sort by eigenvalue and return them as rows.
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    order.sort_by(|&i, &j| a[i][i].total_cmp(&a[j][j]));
    let values = std::array::from_fn(|k| a[order[k]][order[k]]);
    let vectors = std::array::from_fn(|k| std::array::from_fn(|r| v[r][order[k]]));
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_a_known_spectrum() {
        // A = Q diag(d) Qᵀ with Q a product of two rotations: eigenvalues must come back sorted,
        // eigenvectors must satisfy A v = λ v.
        let d = [5.0, -1.0, 0.0, 2.5];
        let (c1, s1) = (0.3f64.cos(), 0.3f64.sin());
        let (c2, s2) = (1.1f64.cos(), 1.1f64.sin());
        let q = [[c1, -s1, 0.0, 0.0], [s1, c1, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        let r = [[1.0, 0.0, 0.0, 0.0], [0.0, c2, 0.0, -s2], [0.0, 0.0, 1.0, 0.0], [0.0, s2, 0.0, c2]];
        let mut qr = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                qr[i][j] = (0..4).map(|k| q[i][k] * r[k][j]).sum();
            }
        }
        let mut a = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] = (0..4).map(|k| qr[i][k] * d[k] * qr[j][k]).sum();
            }
        }
        let (values, vectors) = symmetric_eigen(a);
        assert_eq!(values.map(|v| (v * 1e9).round() / 1e9), [-1.0, 0.0, 2.5, 5.0]);
        for (lambda, vec) in values.iter().zip(vectors.iter()) {
            let norm: f64 = vec.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
            for i in 0..4 {
                let av: f64 = (0..4).map(|k| a[i][k] * vec[k]).sum();
                assert!((av - lambda * vec[i]).abs() < 1e-12, "A v != λ v");
            }
        }
    }

    #[test]
    fn adjugate_is_a_scaled_inverse() {
        let m = [[2.0, 1.0, 0.5], [0.0, 3.0, -1.0], [1.0, 0.0, 4.0]];
        let p = mul3(&m, &adjugate3(&m));
        let det = det3(&m);
        for (i, row) in p.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let want = if i == j { det } else { 0.0 };
                assert!((v - want).abs() < 1e-12, "m·adj(m) != det·I at {i},{j}");
            }
        }
    }
}
