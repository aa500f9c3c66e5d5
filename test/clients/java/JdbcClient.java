// pgjdbc exercised the way Java applications use it, against the URL given on the command line.
// Run as a single-file program: java -cp /usr/share/java/postgresql.jar JdbcClient.java <url> <user> <password>
// Every section prints `name=value` lines for the test to compare; a section that throws prints
// `name!error=<SQLSTATE> <message>` and the program exits 1 after running the remaining sections.
import java.math.BigDecimal;
import java.sql.Array;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.postgresql.PGConnection;

public class JdbcClient {
  interface Section {
    void run() throws Exception;
  }

  private static String url;
  private static Properties login;
  private static boolean failed;

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: JdbcClient <jdbc-url> <user> <password>");
      System.exit(2);
    }
    url = args[0];
    login = new Properties();
    login.setProperty("user", args[1]);
    login.setProperty("password", args[2]);

    section("statement.select1", JdbcClient::statementSelect1);
    section("statement.version", JdbcClient::statementVersion);
    section("backend.pid", JdbcClient::backendPid);
    section("prepared.default", () -> preparedStatements("prepared.default", ""));
    section("prepared.threshold1", () -> preparedStatements("prepared.threshold1", "prepareThreshold=1"));
    section("binary", JdbcClient::binaryTransfer);
    section("batch", JdbcClient::batch);
    section("batch.error", JdbcClient::batchError);
    section("transaction", JdbcClient::transaction);
    section("failed.transaction", JdbcClient::failedTransaction);
    section("cancel", JdbcClient::cancel);
    System.exit(failed ? 1 : 0);
  }

  private static void section(String name, Section body) {
    try {
      body.run();
    } catch (Exception e) {
      failed = true;
      String state = e instanceof SQLException ? ((SQLException) e).getSQLState() : e.getClass().getSimpleName();
      System.out.println(name + "!error=" + state + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
    }
    System.out.flush();
  }

  private static void print(String key, Object value) {
    System.out.println(key + "=" + value);
  }

  /** A connection with extra URL parameters such as "prepareThreshold=1". */
  private static Connection connect(String parameters) throws SQLException {
    String full = parameters.isEmpty() ? url : url + (url.contains("?") ? "&" : "?") + parameters;
    return DriverManager.getConnection(full, login);
  }

  private static String single(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static void statementSelect1() throws SQLException {
    try (Connection c = connect("")) {
      print("statement.select1", single(c, "SELECT 1"));
    }
  }

  private static void statementVersion() throws SQLException {
    try (Connection c = connect(""); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT vectorgate_version()")) {
      ResultSetMetaData meta = rs.getMetaData();
      List<String> rows = new ArrayList<>();
      while (rs.next()) rows.add(rs.getString(1));
      print("statement.version", String.join(",", rows));
      print("statement.version.column", meta.getColumnCount() + " " + meta.getColumnLabel(1) + " " + meta.getColumnTypeName(1));
    }
  }

  private static void backendPid() throws SQLException {
    try (Connection c = connect("")) {
      int fromKeyData = c.unwrap(PGConnection.class).getBackendPID();
      print("backend.pid.matches", String.valueOf(fromKeyData).equals(single(c, "SELECT pg_backend_pid()")));
    }
  }

  /**
   * pgjdbc sends a PreparedStatement unnamed until it has run prepareThreshold times (5 by default),
   * then as a named server-side statement; 8 executions cover both, for a pass-through and a local
   * statement.
   */
  private static void preparedStatements(String name, String parameters) throws SQLException {
    try (Connection c = connect(parameters)) {
      List<String> doubled = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT ?::int * 2")) {
        for (int i = 1; i <= 8; i++) {
          ps.setInt(1, i);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            doubled.add(rs.getString(1));
          }
        }
        print(name + ".doubled", String.join(",", doubled));
        print(name + ".server_prepared", single(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int * 2'"));
      }
      List<String> versions = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT vectorgate_version()")) {
        for (int i = 1; i <= 8; i++) {
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) versions.add(rs.getString(1));
          }
        }
      }
      print(name + ".version", String.join(",", versions));
    }
  }

  /** Binary transfer forced from the first execution, over types whose binary forms differ from text. */
  private static void binaryTransfer() throws SQLException {
    try (Connection c = connect("binaryTransfer=true&prepareThreshold=-1")) {
      String sql = "SELECT ?::int4, ?::int8, ?::float8, ?::numeric, ?::bytea, ?::uuid, ?::timestamp, ?::date, ?::int4[], ?::text";
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setInt(1, -123456);
        ps.setLong(2, 9_000_000_000_123L);
        ps.setDouble(3, 3.25);
        ps.setBigDecimal(4, new BigDecimal("12345.678900"));
        ps.setBytes(5, new byte[] {0, 1, (byte) 0xfe, (byte) 0xff});
        ps.setObject(6, UUID.fromString("6f1c7b4e-2d6a-4c8e-9a57-3b1f0e2d4c6a"));
        ps.setTimestamp(7, Timestamp.valueOf("2024-02-29 13:14:15.123456"));
        ps.setDate(8, Date.valueOf("1999-12-31"));
        ps.setArray(9, c.createArrayOf("int4", new Integer[] {3, 1, 2}));
        ps.setString(10, "bïnary ✓");
        for (int run = 1; run <= 2; run++) {
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            Array array = rs.getArray(9);
            print("binary.run" + run, String.join("|",
                String.valueOf(rs.getInt(1)), String.valueOf(rs.getLong(2)), String.valueOf(rs.getDouble(3)),
                rs.getBigDecimal(4).toPlainString(), Arrays.toString(rs.getBytes(5)), String.valueOf(rs.getObject(6)),
                String.valueOf(rs.getTimestamp(7)), String.valueOf(rs.getDate(8)),
                Arrays.toString((Integer[]) array.getArray()), rs.getString(10)));
          }
        }
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT vectorgate_version()")) {
        List<String> versions = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) versions.add(rs.getString(1));
          }
        }
        print("binary.version", String.join(",", versions));
      }
    }
  }

  /** A batch is pipelined by pgjdbc: all Bind/Execute pairs, then one Sync. */
  private static void batch() throws SQLException {
    try (Connection c = connect("")) {
      try (Statement s = c.createStatement()) {
        s.execute("CREATE TEMP TABLE jdbc_batch (id int PRIMARY KEY, label text)");
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_batch VALUES (?, ?)")) {
        for (int i = 1; i <= 50; i++) {
          ps.setInt(1, i);
          ps.setString(2, "row " + i);
          ps.addBatch();
        }
        print("batch.prepared", summarise(ps.executeBatch()));
      }
      try (Statement s = c.createStatement()) {
        s.addBatch("UPDATE jdbc_batch SET label = 'even' WHERE id % 2 = 0");
        s.addBatch("DELETE FROM jdbc_batch WHERE id > 40");
        s.addBatch("INSERT INTO jdbc_batch VALUES (100, 'hundred')");
        print("batch.statement", Arrays.toString(s.executeBatch()));
      }
      print("batch.rows", single(c, "SELECT count(*) || ' ' || sum(id) || ' ' || count(*) FILTER (WHERE label = 'even') FROM jdbc_batch"));
    }
  }

  /** Run-length summary of update counts, e.g. "50x1". */
  private static String summarise(int[] counts) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < counts.length;) {
      int j = i;
      while (j < counts.length && counts[j] == counts[i]) j++;
      if (out.length() > 0) out.append(',');
      out.append(j - i).append('x').append(counts[i]);
      i = j;
    }
    return out.toString();
  }

  /** A duplicate key in the middle of a batch: everything up to the one Sync is one transaction. */
  private static void batchError() throws SQLException {
    try (Connection c = connect("")) {
      try (Statement s = c.createStatement()) {
        s.execute("CREATE TEMP TABLE jdbc_batch_error (id int PRIMARY KEY)");
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_batch_error VALUES (?)")) {
        for (int id : new int[] {1, 2, 3, 2, 4}) {
          ps.setInt(1, id);
          ps.addBatch();
        }
        try {
          ps.executeBatch();
          print("batch.error", "none");
        } catch (BatchUpdateException e) {
          SQLException cause = e.getNextException() != null ? e.getNextException() : e;
          print("batch.error", cause.getSQLState());
        }
      }
      print("batch.error.rows", single(c, "SELECT count(*) FROM jdbc_batch_error"));
    }
  }

  private static void transaction() throws SQLException {
    try (Connection c = connect("")) {
      try (Statement s = c.createStatement()) {
        s.execute("CREATE TEMP TABLE jdbc_tx (label text)");
      }
      c.setAutoCommit(false);
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO jdbc_tx VALUES (?)");
          PreparedStatement version = c.prepareStatement("SELECT vectorgate_version()")) {
        insert.setString(1, "before");
        insert.executeUpdate();
        try (ResultSet rs = version.executeQuery()) {
          rs.next();
          insert.setString(1, rs.getString(1));
        }
        insert.executeUpdate();
        print("transaction.statement_version", single(c, "SELECT vectorgate_version()"));
        c.commit();
        insert.setString(1, "rolled back");
        insert.executeUpdate();
        c.rollback();
      }
      c.setAutoCommit(true);
      print("transaction.rows", single(c, "SELECT string_agg(label, ',' ORDER BY label) FROM jdbc_tx"));
    }
  }

  private static void failedTransaction() throws SQLException {
    try (Connection c = connect("")) {
      c.setAutoCommit(false);
      List<String> states = new ArrayList<>();
      states.add(stateOf(c, "SELECT 1/0"));
      states.add(stateOf(c, "SELECT vectorgate_version()"));
      try (PreparedStatement ps = c.prepareStatement("SELECT vectorgate_version()")) {
        ps.executeQuery().close();
        states.add("none");
      } catch (SQLException e) {
        states.add(e.getSQLState());
      }
      c.rollback();
      states.add(single(c, "SELECT vectorgate_version()"));
      print("failed.transaction", String.join(" ", states));
    }
  }

  private static String stateOf(Connection c, String sql) {
    try (Statement s = c.createStatement()) {
      s.executeQuery(sql).close();
      return "none";
    } catch (SQLException e) {
      return e.getSQLState();
    }
  }

  /** Statement.cancel() sends a CancelRequest on a new connection, once the sleep is surely running. */
  private static void cancel() throws Exception {
    try (Connection c = connect(""); Connection watcher = connect(""); Statement s = c.createStatement()) {
      int pid = c.unwrap(PGConnection.class).getBackendPID();
      Thread canceller = new Thread(() -> {
        try (PreparedStatement ps = watcher.prepareStatement(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ? AND state = 'active' AND query LIKE '%pg_sleep%'")) {
          ps.setInt(1, pid);
          for (;;) {
            try (ResultSet rs = ps.executeQuery()) {
              rs.next();
              if (rs.getInt(1) == 1) break;
            }
            Thread.sleep(20);
          }
          s.cancel();
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      });
      canceller.start();
      try {
        s.executeQuery("SELECT pg_sleep(30)").close();
        print("cancel", "none");
      } catch (SQLException e) {
        print("cancel", e.getSQLState());
      }
      canceller.join();
      print("cancel.after", single(c, "SELECT 'usable'"));
    }
  }
}
