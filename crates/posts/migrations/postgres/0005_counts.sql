-- A post's like and reply counts live on its row, kept by triggers in the same transaction as
-- the like, unlike, reply or deletion that changes them: a page reads them instead of counting
-- likes and replies per post (three correlated sub-selects per row became one). Triggers rather
-- than application code, so that every writer keeps them, whatever its version (during a
-- rolling update the previous release still writes). Mirrors migrations/sqlite/0005_counts.sql.
ALTER TABLE posts
    ADD COLUMN like_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN reply_count BIGINT NOT NULL DEFAULT 0;

UPDATE posts p SET like_count = c.n
FROM (SELECT post_id, COUNT(*) AS n FROM likes GROUP BY post_id) AS c
WHERE c.post_id = p.id;
UPDATE posts p SET reply_count = c.n
FROM (SELECT reply_to, COUNT(*) AS n FROM posts WHERE reply_to IS NOT NULL GROUP BY reply_to) AS c
WHERE c.reply_to = p.id;

-- The functions keep the schema they were made in (the session's search_path, the service's
-- schema) whoever's session fires them.
CREATE FUNCTION likes_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE posts SET like_count = like_count + 1 WHERE id = NEW.post_id;
    ELSE
        -- Also for the likes a deleted post takes with it (its row is gone: nothing to update).
        UPDATE posts SET like_count = like_count - 1 WHERE id = OLD.post_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER likes_count AFTER INSERT OR DELETE ON likes
    FOR EACH ROW EXECUTE FUNCTION likes_count();

CREATE FUNCTION replies_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE posts SET reply_count = reply_count + 1 WHERE id = NEW.reply_to;
    ELSE
        UPDATE posts SET reply_count = reply_count - 1 WHERE id = OLD.reply_to;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER replies_count_insert AFTER INSERT ON posts
    FOR EACH ROW WHEN (NEW.reply_to IS NOT NULL) EXECUTE FUNCTION replies_count();
CREATE TRIGGER replies_count_delete AFTER DELETE ON posts
    FOR EACH ROW WHEN (OLD.reply_to IS NOT NULL) EXECUTE FUNCTION replies_count();
