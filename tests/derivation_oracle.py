"""The derivation document's equations, written out literally with Python loops — for testing only.

Slow on purpose and free of NumPy cleverness: each loop is one Σ or one case of the document, in
the document's order and symbols, so a reader can check it line by line against sections 2 and 3.
The document counts from 1 (X[c, u+i−1, v+j−1]); Python counts from 0, so here it reads X[c, u+i, v+j].
"""
from __future__ import annotations

import math

import numpy as np


def forward_backward(X, W, b, U, c, y):
    """One sample: loss L and the gradients dL/dW, dL/db, dL/dU, dL/dc, dL/dX.

    X (C, H, W_in), W (F, C, K, K'), b (F,), U (M, len(p)), c (M,), y (M,) a one-hot row.
    """
    C, H, W_in = X.shape
    F, _, K_rows, K_cols = W.shape
    M = U.shape[0]
    out_h, out_w = H - K_rows + 1, W_in - K_cols + 1

    # 2.1  Z[f,u,v] = Σ_c Σ_i Σ_j W[f,c,i,j] X[c,u+i,v+j] + b[f]
    Z = np.zeros((F, out_h, out_w))
    for f in range(F):
        for u in range(out_h):
            for v in range(out_w):
                total = 0.0
                for ch in range(C):
                    for i in range(K_rows):
                        for j in range(K_cols):
                            total += W[f, ch, i, j] * X[ch, u + i, v + j]
                Z[f, u, v] = total + b[f]

    # 2.2  A[f,u,v] = max(0, Z[f,u,v])
    A = np.zeros_like(Z)
    for f in range(F):
        for u in range(out_h):
            for v in range(out_w):
                A[f, u, v] = max(0.0, Z[f, u, v])

    # 2.3  P[f,u',v'] = max over (i,j) in {0,1}² of A[f, 2u'+i, 2v'+j]  (a trailing odd row/column is unused)
    pool_h, pool_w = out_h // 2, out_w // 2
    P = np.zeros((F, pool_h, pool_w))
    for f in range(F):
        for u2 in range(pool_h):
            for v2 in range(pool_w):
                P[f, u2, v2] = max(A[f, 2 * u2 + i, 2 * v2 + j] for i in range(2) for j in range(2))

    # 2.4  flatten, s_i = Σ_k U[i,k] p_k + c_i, ŷ_i = e^{s_i} / Σ_j e^{s_j}, L = −Σ_i y_i log ŷ_i
    p = [P[f, u2, v2] for f in range(F) for u2 in range(pool_h) for v2 in range(pool_w)]
    s = [sum(U[i, k] * p[k] for k in range(len(p))) + c[i] for i in range(M)]
    denominator = sum(math.exp(s[j]) for j in range(M))
    y_hat = [math.exp(s[i]) / denominator for i in range(M)]
    L = -sum(y[i] * math.log(y_hat[i]) for i in range(M))

    # 3.1  δs_i = ŷ_i − y_i
    delta_s = [y_hat[i] - y[i] for i in range(M)]

    # 3.2  dL/dU[i,k] = δs_i p_k,  dL/dc_i = δs_i,  dL/dp_k = Σ_i δs_i U[i,k]  (= δP, unflattened)
    dU = np.zeros_like(U)
    for i in range(M):
        for k in range(len(p)):
            dU[i, k] = delta_s[i] * p[k]
    dc = np.array(delta_s)
    delta_p = [sum(delta_s[i] * U[i, k] for i in range(M)) for k in range(len(p))]
    delta_P = np.array(delta_p).reshape(F, pool_h, pool_w)

    # 3.3  δA = δP at the block's max index (i*, j*) — the first maximum in row-major order — and 0 elsewhere
    delta_A = np.zeros_like(A)
    for f in range(F):
        for u2 in range(pool_h):
            for v2 in range(pool_w):
                i_star, j_star = 0, 0
                for i in range(2):
                    for j in range(2):
                        if A[f, 2 * u2 + i, 2 * v2 + j] > A[f, 2 * u2 + i_star, 2 * v2 + j_star]:
                            i_star, j_star = i, j
                delta_A[f, 2 * u2 + i_star, 2 * v2 + j_star] = delta_P[f, u2, v2]

    # 3.4  δZ = δA · 1[Z > 0]
    delta_Z = np.zeros_like(Z)
    for f in range(F):
        for u in range(out_h):
            for v in range(out_w):
                delta_Z[f, u, v] = delta_A[f, u, v] * (1.0 if Z[f, u, v] > 0 else 0.0)

    # 3.5 (1)  dL/db_f = Σ_u Σ_v δZ[f,u,v]
    db = np.zeros_like(b)
    for f in range(F):
        for u in range(out_h):
            for v in range(out_w):
                db[f] += delta_Z[f, u, v]

    # 3.5 (2)  dL/dW[f,c,i,j] = Σ_u Σ_v δZ[f,u,v] X[c,u+i,v+j]
    dW = np.zeros_like(W)
    for f in range(F):
        for ch in range(C):
            for i in range(K_rows):
                for j in range(K_cols):
                    for u in range(out_h):
                        for v in range(out_w):
                            dW[f, ch, i, j] += delta_Z[f, u, v] * X[ch, u + i, v + j]

    # 3.5 (3)  dL/dX[c,x,y] = Σ_f Σ_i Σ_j δZ[f, x−i, y−j] W[f,c,i,j], over the (x−i, y−j) that are outputs
    dX = np.zeros_like(X)
    for ch in range(C):
        for x in range(H):
            for y_ in range(W_in):
                for f in range(F):
                    for i in range(K_rows):
                        for j in range(K_cols):
                            if 0 <= x - i < out_h and 0 <= y_ - j < out_w:
                                dX[ch, x, y_] += delta_Z[f, x - i, y_ - j] * W[f, ch, i, j]

    return L, {"W": dW, "b": db, "U": dU, "c": dc, "X": dX}


def forward_backward_batch(X, W, b, U, c, labels):
    """A batch X (N, C, H, W_in) with integer labels (N,): the mean loss and the mean of the gradients."""
    N, M = len(X), U.shape[0]
    total_loss = 0.0
    grads = {"W": np.zeros_like(W), "b": np.zeros_like(b), "U": np.zeros_like(U), "c": np.zeros_like(c),
             "X": np.zeros_like(X)}
    for n in range(N):
        y = [1.0 if i == labels[n] else 0.0 for i in range(M)]     # one-hot y for sample n
        L, sample_grads = forward_backward(X[n], W, b, U, c, y)
        total_loss += L / N
        for name in ("W", "b", "U", "c"):
            grads[name] += sample_grads[name] / N
        grads["X"][n] = sample_grads["X"] / N
    return total_loss, grads
