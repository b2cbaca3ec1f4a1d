-- Schema version 11: provider statements (upload, set-wise matching, the exception queue).

-- Provider statements: the provider's own record of money moved, matched against transactions all at
-- once. Each line gets one outcome; every discrepancy opens an exception an operator resolves.

-- How a service's statement CSV names its columns: logical field -> header in the provider's file.
CREATE TABLE statement_formats (
    service_id  bigint PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    columns     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One uploaded statement; the same file (same sha256) for the same service is the same statement.
CREATE TABLE statements (
    id           bigserial PRIMARY KEY,
    service_id   bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    sha256       text NOT NULL,
    filename     text,
    uploaded_by  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    period_from  timestamptz,
    period_to    timestamptz,
    counts       jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (service_id, sha256)
);

-- The statement's lines as the provider wrote them (parsed), and what each matched.
CREATE TABLE statement_lines (
    statement_id    bigint NOT NULL REFERENCES statements (id) ON DELETE CASCADE,
    line_no         integer NOT NULL,
    reference       text,
    amount          numeric(18, 2) NOT NULL,
    currency        text,
    status          text,
    occurred_at     timestamptz NOT NULL,
    transaction_id  bigint,
    outcome         text,
    PRIMARY KEY (statement_id, line_no)
);

-- Every discrepancy, with why (detail: the provider's and the gateway's values; amounts as text, never
-- a float), until resolved.
CREATE TABLE statement_exceptions (
    id              bigserial PRIMARY KEY,
    statement_id    bigint NOT NULL REFERENCES statements (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('missing_in_gateway', 'missing_at_provider', 'amount_mismatch',
                                                  'status_mismatch', 'currency_mismatch', 'duplicate')),
    line_no         integer,
    transaction_id  bigint REFERENCES transactions (id) ON DELETE CASCADE,
    detail          jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     text,
    resolution      text
);
CREATE INDEX statement_exceptions_statement_idx ON statement_exceptions (statement_id, id);
CREATE INDEX statement_exceptions_open_idx ON statement_exceptions (id) WHERE resolved_at IS NULL;
-- A statement line may name the provider's own id for a payment instead of the reference it was sent.
CREATE INDEX IF NOT EXISTS transactions_financial_id_idx ON transactions ((provider_response ->> 'financialTransactionId'))
    WHERE provider_response ? 'financialTransactionId';

-- Match a statement set-wise: by the reference sent (mospay.provider_reference), or the provider's
-- financialTransactionId; then lines without a reference by amount (within p_tolerance) and time (within
-- p_window), nearest first, one transaction per line. Each line gets one outcome, in this order:
-- duplicate, missing_in_gateway, currency_mismatch, amount_mismatch, status_mismatch, matched. Gateway
-- transactions of the service inside the statement's period that no line names are missing_at_provider
-- (a FAILED one moved no money: its absence is no discrepancy). Deterministic: ties break on ids.
CREATE OR REPLACE FUNCTION mospay.match_statement(p_statement_id bigint, p_tolerance numeric, p_window interval)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_service bigint;
    v_currency text;
    v_from timestamptz;
    v_to timestamptz;
    v_counts jsonb;
    r record;
    v_tx bigint;
BEGIN
    SELECT st.service_id, s.currency INTO v_service, v_currency
      FROM statements st JOIN services s ON s.id = st.service_id WHERE st.id = p_statement_id;
    UPDATE statement_lines l SET transaction_id = t.id
      FROM transactions t
     WHERE l.statement_id = p_statement_id AND l.reference IS NOT NULL
       AND t.public_id = mospay.public_id_for_reference(l.reference) AND t.service_id = v_service;
    UPDATE statement_lines l SET transaction_id = t.id
      FROM transactions t
     WHERE l.statement_id = p_statement_id AND l.reference IS NOT NULL AND l.transaction_id IS NULL
       AND t.f010 = l.reference AND t.provider_ref = l.reference AND t.service_id = v_service;
    UPDATE statement_lines l SET transaction_id = t.id
      FROM transactions t
     WHERE l.statement_id = p_statement_id AND l.reference IS NOT NULL AND l.transaction_id IS NULL
       AND t.provider_response ? 'financialTransactionId'
       AND (t.provider_response ->> 'financialTransactionId') = l.reference AND t.service_id = v_service;
    -- A second line for the same reference (or the same transaction) is a duplicate of the first.
    UPDATE statement_lines l SET outcome = 'duplicate'
      FROM (SELECT line_no, row_number() OVER (PARTITION BY coalesce(transaction_id::text, 'r:' || reference)
                                               ORDER BY line_no) AS n
              FROM statement_lines
             WHERE statement_id = p_statement_id AND (reference IS NOT NULL OR transaction_id IS NOT NULL)) d
     WHERE l.statement_id = p_statement_id AND l.line_no = d.line_no AND d.n > 1;
    IF EXISTS (SELECT 1 FROM statement_lines WHERE statement_id = p_statement_id AND reference IS NULL) THEN
        -- The unclaimed transactions near those lines' dates, indexed by amount: each line then costs one
        -- index probe, however many transactions the service has.
        DROP TABLE IF EXISTS statement_candidates;
        CREATE TEMP TABLE statement_candidates ON COMMIT DROP AS
        SELECT t.id, t.amount, t.created_at
          FROM transactions t
         WHERE t.service_id = v_service
           AND t.created_at BETWEEN (SELECT min(occurred_at) - p_window FROM statement_lines
                                      WHERE statement_id = p_statement_id AND reference IS NULL)
                                AND (SELECT max(occurred_at) + p_window FROM statement_lines
                                      WHERE statement_id = p_statement_id AND reference IS NULL)
           AND NOT EXISTS (SELECT 1 FROM statement_lines x
                            WHERE x.statement_id = p_statement_id AND x.transaction_id = t.id);
        CREATE INDEX ON statement_candidates (amount, created_at);
        ANALYZE statement_candidates;
        FOR r IN SELECT line_no, amount, occurred_at FROM statement_lines
                  WHERE statement_id = p_statement_id AND reference IS NULL ORDER BY line_no
        LOOP
            DELETE FROM statement_candidates c
             WHERE c.id = (SELECT k.id FROM statement_candidates k
                            WHERE k.amount BETWEEN r.amount - p_tolerance AND r.amount + p_tolerance
                              AND k.created_at BETWEEN r.occurred_at - p_window AND r.occurred_at + p_window
                            ORDER BY abs(extract(epoch FROM k.created_at - r.occurred_at)),
                                     abs(k.amount - r.amount), k.id
                            LIMIT 1)
            RETURNING c.id INTO v_tx;
            IF v_tx IS NOT NULL THEN
                UPDATE statement_lines SET transaction_id = v_tx
                 WHERE statement_id = p_statement_id AND line_no = r.line_no;
            END IF;
        END LOOP;
        DROP TABLE statement_candidates;
    END IF;
    UPDATE statement_lines l
       SET outcome = CASE
               WHEN t.id IS NULL THEN 'missing_in_gateway'
               WHEN l.currency IS NOT NULL AND l.currency <> v_currency THEN 'currency_mismatch'
               WHEN abs(l.amount - t.amount) > p_tolerance THEN 'amount_mismatch'
               WHEN l.status IS NOT NULL AND l.status <> t.status THEN 'status_mismatch'
               ELSE 'matched' END
      FROM statement_lines l2 LEFT JOIN transactions t ON t.id = l2.transaction_id
     WHERE l.statement_id = p_statement_id AND l2.statement_id = p_statement_id AND l2.line_no = l.line_no
       AND l.outcome IS NULL;
    INSERT INTO statement_exceptions (statement_id, kind, line_no, transaction_id, detail)
    SELECT p_statement_id, l.outcome, l.line_no, t.id,
           jsonb_strip_nulls(jsonb_build_object(
               'why', CASE l.outcome
                   WHEN 'duplicate' THEN 'an earlier line of this statement names the same payment'
                   WHEN 'missing_in_gateway' THEN 'no transaction of this service has this reference'
                   WHEN 'currency_mismatch' THEN 'the provider''s currency differs from the service''s'
                   WHEN 'amount_mismatch' THEN 'the provider''s amount differs beyond the tolerance'
                   ELSE 'the provider''s status differs from the gateway''s' END,
               'reference', l.reference, 'transaction_id', t.public_id,
               'provider', jsonb_build_object('amount', l.amount::text, 'currency', l.currency, 'status', l.status,
                                              'date', l.occurred_at),
               'gateway', CASE WHEN t.id IS NOT NULL THEN jsonb_build_object(
                   'amount', t.amount::text, 'currency', v_currency, 'status', t.status, 'date', t.created_at) END))
      FROM statement_lines l LEFT JOIN transactions t ON t.id = l.transaction_id
     WHERE l.statement_id = p_statement_id AND l.outcome <> 'matched'
     ORDER BY l.line_no;
    SELECT min(occurred_at), max(occurred_at) INTO v_from, v_to
      FROM statement_lines WHERE statement_id = p_statement_id;
    -- A statement dated by day covers the whole of its last day.
    IF v_to IS NOT NULL AND v_to = date_trunc('day', v_to) THEN
        v_to := v_to + interval '1 day' - interval '1 microsecond';
    END IF;
    INSERT INTO statement_exceptions (statement_id, kind, transaction_id, detail)
    SELECT p_statement_id, 'missing_at_provider', t.id,
           jsonb_build_object('why', 'the provider''s statement has no line for this transaction',
                              'transaction_id', t.public_id,
                              'reference', mospay.provider_reference(t.public_id, t.provider_ref),
                              'gateway', jsonb_build_object('amount', t.amount::text, 'currency', v_currency,
                                                            'status', t.status, 'date', t.created_at))
      FROM transactions t
     WHERE t.service_id = v_service AND t.created_at BETWEEN v_from AND v_to
       AND t.status <> 'FAILED'
       AND NOT EXISTS (SELECT 1 FROM statement_lines x
                        WHERE x.statement_id = p_statement_id AND x.transaction_id = t.id)
     ORDER BY t.id;
    SELECT jsonb_build_object(
               'lines', (SELECT count(*) FROM statement_lines WHERE statement_id = p_statement_id),
               'matched', (SELECT count(*) FROM statement_lines
                            WHERE statement_id = p_statement_id AND outcome = 'matched'))
           || coalesce((SELECT jsonb_object_agg(k, coalesce(c.n, 0))
                          FROM unnest(ARRAY['missing_in_gateway', 'missing_at_provider', 'amount_mismatch',
                                            'status_mismatch', 'currency_mismatch', 'duplicate']) AS k
                          LEFT JOIN (SELECT kind, count(*) AS n FROM statement_exceptions
                                      WHERE statement_id = p_statement_id GROUP BY kind) c ON c.kind = k),
                       '{}'::jsonb)
      INTO v_counts;
    UPDATE statements SET counts = v_counts, period_from = v_from, period_to = v_to WHERE id = p_statement_id;
    RETURN v_counts;
END $$;
